// The C++ runtime pieces a -fno-exceptions -fno-rtti program needs on top of musl (which has
// malloc, free, aligned_alloc, __cxa_atexit and __dso_handle's crtbegin): the operator new and
// delete family (plain, array, sized, aligned, nothrow), __cxa_pure_virtual and the guards of
// function-local statics (__cxa_guard_*, thread-safe through a pthread mutex). Linked into every
// MUSL_APPS program by kernel/build.rs; C programs simply do not reference it.
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

namespace std {
enum class align_val_t : size_t {};
struct nothrow_t {
    explicit nothrow_t() = default;
};
extern const nothrow_t nothrow;
const nothrow_t nothrow{};
}  // namespace std

namespace {
// Without exceptions an allocation failure cannot throw std::bad_alloc: the program ends, as
// libstdc++ does with -fno-exceptions.
[[noreturn]] void out_of_memory() {
    fputs("operator new: out of memory\n", stderr);
    abort();
}

void *allocate(size_t size) {
    void *memory = malloc(size ? size : 1);
    if (!memory) out_of_memory();
    return memory;
}

void *allocate_aligned(size_t size, std::align_val_t alignment) {
    size_t align = static_cast<size_t>(alignment);
    if (align < sizeof(void *)) align = sizeof(void *);
    size_t rounded = (size + align - 1) / align * align;
    void *memory = aligned_alloc(align, rounded ? rounded : align);
    if (!memory) out_of_memory();
    return memory;
}
}  // namespace

void *operator new(size_t size) { return allocate(size); }
void *operator new[](size_t size) { return allocate(size); }
void *operator new(size_t size, const std::nothrow_t &) noexcept { return malloc(size ? size : 1); }
void *operator new[](size_t size, const std::nothrow_t &) noexcept { return malloc(size ? size : 1); }
void *operator new(size_t size, std::align_val_t alignment) { return allocate_aligned(size, alignment); }
void *operator new[](size_t size, std::align_val_t alignment) { return allocate_aligned(size, alignment); }
void operator delete(void *memory) noexcept { free(memory); }
void operator delete[](void *memory) noexcept { free(memory); }
void operator delete(void *memory, size_t) noexcept { free(memory); }
void operator delete[](void *memory, size_t) noexcept { free(memory); }
void operator delete(void *memory, std::align_val_t) noexcept { free(memory); }
void operator delete[](void *memory, std::align_val_t) noexcept { free(memory); }
void operator delete(void *memory, size_t, std::align_val_t) noexcept { free(memory); }
void operator delete[](void *memory, size_t, std::align_val_t) noexcept { free(memory); }
void operator delete(void *memory, const std::nothrow_t &) noexcept { free(memory); }
void operator delete[](void *memory, const std::nothrow_t &) noexcept { free(memory); }

extern "C" {
[[noreturn]] void __cxa_pure_virtual() {
    fputs("pure virtual function called\n", stderr);
    abort();
}

// Itanium C++ ABI guards: byte 0 of the 64-bit guard is "initialised"; byte 1 "in progress".
// One process-wide recursive mutex serialises initialisations (as libstdc++ without futexes).
// Recursive: one static's initialiser may initialise another.
static pthread_mutex_t guard_lock;
static pthread_once_t guard_lock_once = PTHREAD_ONCE_INIT;

static void make_guard_lock() {
    pthread_mutexattr_t attributes;
    pthread_mutexattr_init(&attributes);
    pthread_mutexattr_settype(&attributes, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&guard_lock, &attributes);
    pthread_mutexattr_destroy(&attributes);
}

int __cxa_guard_acquire(unsigned long long *guard) {
    if (__atomic_load_n(reinterpret_cast<unsigned char *>(guard), __ATOMIC_ACQUIRE)) return 0;
    pthread_once(&guard_lock_once, make_guard_lock);
    pthread_mutex_lock(&guard_lock);
    if (*reinterpret_cast<unsigned char *>(guard)) {
        pthread_mutex_unlock(&guard_lock);
        return 0;
    }
    return 1;
}

void __cxa_guard_release(unsigned long long *guard) {
    __atomic_store_n(reinterpret_cast<unsigned char *>(guard), 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&guard_lock);
}

void __cxa_guard_abort(unsigned long long *) { pthread_mutex_unlock(&guard_lock); }
}
