/* The process runtime's test program: a static musl C program (built by kernel/build.rs's
 * MUSL_APPS stanza) run by kernel/src/tests/runtime_tests.rs. argv[1] selects the mode:
 *
 *   1  printf (%d %f %ls), malloc/calloc/realloc/free, mmap/munmap, mprotect (PROT_NONE
 *      keeps the contents, frees a page of zeros), clock_gettime, nanosleep
 *      (relative, and absolute with clock_nanosleep),
 *      four threads with a mutex-protected counter, a condition variable, pthread_once,
 *      __thread variables and doubles in every thread, join          -> exit 0 (else the step)
 *   2  prints "musl-selftest: spinning", then two threads spin forever -> killed
 *   3  a second thread calls abort()                                  -> exit 134 (128 + SIGABRT)
 *   4  main exits while a second thread waits on a condition forever -> exit 7
 *   5  bad arguments to the Linux calls get errors, not a crash       -> exit 0 (else the step)
 *   6  main makes a dxgos GPU call (OpenAdapterFromLuid) that the test's gateway never
 *      answers, while a second thread spins a while in ring 3 and then executes ud2
 *                                                                     -> faulted (invalid opcode)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

/* dxgos calls (userlib's sys: DXGOS_SYSCALL_BASE + SyscallNumber, the base keeping them
 * clear of Linux's numbers): OpenAdapterFromLuid and the FreeFrames debug query. */
#define DXGOS_SYSCALL_BASE 0x10000000L
#define DXGOS_OPEN_ADAPTER_FROM_LUID (DXGOS_SYSCALL_BASE + 0x01)
#define DXGOS_FREE_FRAMES (DXGOS_SYSCALL_BASE + 0x111)
#define THREADS 4
#define ROUNDS 2000

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t changed = PTHREAD_COND_INITIALIZER;
static long counter;
static int arrived;
static __thread int thread_local_value;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int once_runs;

static void run_once(void) { once_runs++; }

static int64_t monotonic_ns(void) {
    struct timespec now;
    if (clock_gettime(CLOCK_MONOTONIC, &now) != 0) return -1;
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

static void *worker(void *argument) {
    int index = (int)(intptr_t)argument;
    thread_local_value = index * 10;
    volatile double sum = 0.0;
    pthread_once(&once, run_once);
    for (int round = 0; round < ROUNDS; round++) {
        pthread_mutex_lock(&lock);
        counter++;
        pthread_mutex_unlock(&lock);
        sum += 0.5 * (double)(index + 1);
        if (round % 100 == 0) sched_yield();
    }
    pthread_mutex_lock(&lock);
    arrived++;
    pthread_cond_broadcast(&changed);
    pthread_mutex_unlock(&lock);
    if (thread_local_value != index * 10) return (void *)1;
    if (sum != 0.5 * (double)(index + 1) * ROUNDS) return (void *)2;
    return NULL;
}

static int everything(void) {
    printf("musl-selftest: %d %.3f %ls\n", 42, 2.5, L"wide");
    char *small = malloc(24);
    char *large = malloc(1 << 20);
    if (!small || !large) return 10;
    memset(large, 0x5a, 1 << 20);
    int *zeroed = calloc(1000, sizeof(int));
    if (!zeroed || zeroed[999] != 0) return 11;
    small = realloc(small, 100000);
    if (!small) return 12;
    free(small);
    free(large);
    free(zeroed);
    char *map = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED || map[4096] != 0) return 13;
    map[8191] = 1;
    /* PROT_NONE keeps the contents; meanwhile the kernel refuses to read the page. */
    if (mprotect(map + 4096, 4096, PROT_NONE) != 0) return 20;
    if (syscall(SYS_write, 1, map + 8191, 1) != -1 || errno != EFAULT) return 21;
    if (mprotect(map + 4096, 4096, PROT_READ | PROT_WRITE) != 0 || map[8191] != 1) return 22;
    /* A page of zeros set PROT_NONE gives its frame back (dxgos's FreeFrames query counts it):
     * nothing is lost, access given back maps a zeroed page. */
    long frames_before = syscall(DXGOS_FREE_FRAMES);
    if (mprotect(map, 4096, PROT_NONE) != 0) return 27;
    long frames_after = syscall(DXGOS_FREE_FRAMES);
    if (frames_before <= 0 || frames_after != frames_before + 1) return 28;
    if (munmap(map, 3 * 4096) != 0) return 14;
    int64_t before = monotonic_ns();
    struct timespec pause = {0, 20 * 1000 * 1000};
    if (nanosleep(&pause, NULL) != 0) return 15;
    int64_t after = monotonic_ns();
    if (before < 0 || after - before < 20 * 1000 * 1000) return 16;
    struct timespec until = {0, 0};
    int64_t target = after + 10 * 1000 * 1000;
    until.tv_sec = target / 1000000000;
    until.tv_nsec = target % 1000000000;
    if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) != 0) return 25;
    if (monotonic_ns() < target) return 26;
    struct timespec wall;
    if (clock_gettime(CLOCK_REALTIME, &wall) != 0) return 17;
    pthread_t threads[THREADS];
    for (int index = 0; index < THREADS; index++) {
        if (pthread_create(&threads[index], NULL, worker, (void *)(intptr_t)index) != 0) return 18;
    }
    pthread_mutex_lock(&lock);
    while (arrived < THREADS) pthread_cond_wait(&changed, &lock);
    pthread_mutex_unlock(&lock);
    for (int index = 0; index < THREADS; index++) {
        void *result = (void *)-1;
        if (pthread_join(threads[index], &result) != 0) return 19;
        if (result != NULL) return 20 + (int)(intptr_t)result;
    }
    if (counter != (long)THREADS * ROUNDS || once_runs != 1) return 23;
    if (thread_local_value != 0) return 24;
    printf("musl-selftest: %d threads counted to %ld\n", THREADS, counter);
    return 0;
}

static void *spin(void *argument) {
    (void)argument;
    for (volatile unsigned long spins = 0;; spins++) {
    }
    return NULL;
}

/* Spins about 100 million rounds in ring 3, then faults. */
static void *spin_then_trap(void *argument) {
    (void)argument;
    for (volatile unsigned long spins = 0; spins < 100ul * 1000 * 1000; spins++) {
    }
    __builtin_trap();
}

/* dxgos's OpenAdapterFromLuid with its 12-byte struct, as a raw system call. */
static long open_adapter_from_luid(void) {
    static unsigned char arguments[12];
    return syscall(DXGOS_OPEN_ADAPTER_FROM_LUID, arguments, sizeof arguments, 0);
}

static void *call_abort(void *argument) {
    (void)argument;
    abort();
}

static void *wait_forever(void *argument) {
    (void)argument;
    pthread_mutex_lock(&lock);
    arrived = 1;
    pthread_cond_broadcast(&changed);
    for (;;) pthread_cond_wait(&changed, &lock);
    return NULL;
}

static int bad_arguments(void) {
    if (syscall(SYS_write, 1, (void *)16, 10) != -1 || errno != EFAULT) return 30;
    if (syscall(SYS_write, 1, (void *)0xffff800000000000ul, 10) != -1 || errno != EFAULT) return 31;
    if (syscall(SYS_write, 7, "x", 1) != -1 || errno != EBADF) return 32;
    if (mmap(NULL, 4096, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0) != MAP_FAILED || errno != EINVAL) return 33;
    if (mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != MAP_FAILED || errno != EINVAL) return 34;
    if (mmap(NULL, 1ul << 40, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != MAP_FAILED || errno != ENOMEM) return 35;
    if (munmap((void *)1, 4096) != -1 || errno != EINVAL) return 36;
    /* munmap of the executable's own pages leaves them alone. */
    if (munmap((void *)0x400000, 4096) != 0) return 37;
    if (mprotect((void *)0x400000, 4096, PROT_READ | PROT_WRITE) != -1 || errno != ENOMEM) return 38;
    if (syscall(SYS_futex, (void *)((uintptr_t)&counter + 1), 0, 0, NULL, NULL, 0) != -1 || errno != EINVAL) return 39;
    if (syscall(SYS_futex, (void *)16, 0, 0, NULL, NULL, 0) != -1 || errno != EFAULT) return 40;
    struct timespec negative = {-1, 0};
    int word = 0;
    if (syscall(SYS_futex, &word, 0, 0, &negative, NULL, 0) != -1 || errno != EINVAL) return 41;
    struct timespec short_wait = {0, 5 * 1000 * 1000};
    if (syscall(SYS_futex, &word, 0, 0, &short_wait, NULL, 0) != -1 || errno != ETIMEDOUT) return 42;
    if (syscall(SYS_futex, &word, 0, 1, NULL, NULL, 0) != -1 || errno != EAGAIN) return 43;
    if (syscall(SYS_clone, 0x11 /* SIGCHLD: a fork */, 0, NULL, NULL, 0) != -1 || errno != EINVAL) return 44;
    if (syscall(SYS_arch_prctl, 0x1002, 0xffff800000000000ul) != -1 || errno != EINVAL) return 45;
    if (syscall(SYS_clock_gettime, 99, NULL) != -1 || errno != EINVAL) return 46;
    if (syscall(SYS_clock_gettime, CLOCK_MONOTONIC, (void *)16) != -1 || errno != EFAULT) return 47;
    if (syscall(SYS_writev, 1, (void *)16, 2) != -1 || errno != EFAULT) return 48;
    if (syscall(9999) != -1 || errno != ENOSYS) return 49;
    printf("musl-selftest: bad arguments refused\n");
    return 0;
}

int main(int argc, char **argv) {
    int mode = argc > 1 ? atoi(argv[1]) : 0;
    pthread_t thread;
    switch (mode) {
    case 1:
        return everything();
    case 2:
        printf("musl-selftest: spinning\n");
        fflush(stdout);
        if (pthread_create(&thread, NULL, spin, NULL) != 0) return 50;
        spin(NULL);
        return 51;
    case 3:
        if (pthread_create(&thread, NULL, call_abort, NULL) != 0) return 52;
        pthread_join(thread, NULL);
        return 53;
    case 4:
        if (pthread_create(&thread, NULL, wait_forever, NULL) != 0) return 54;
        pthread_mutex_lock(&lock);
        while (!arrived) pthread_cond_wait(&changed, &lock);
        pthread_mutex_unlock(&lock);
        exit(7);
    case 5:
        return bad_arguments();
    case 6:
        if (pthread_create(&thread, NULL, spin_then_trap, NULL) != 0) return 55;
        open_adapter_from_luid();
        return 56;
    default:
        return 99;
    }
}
