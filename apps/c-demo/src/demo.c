/* c-demo: a dxgos application in C, written against the generated d3dkmt_dxgos.h only.
 *
 * It walks the D3DKMT sequence a user-mode driver uses: EnumAdapters2, CreateDevice,
 * CreateContextVirtual, CreateAllocation2, CreateSynchronizationObject2 (a monitored fence),
 * SubmitCommand with the vGPU's GRADIENT packet (docs/vgpu-command-processor.md),
 * SignalSynchronizationObjectFromGpu, WaitForSynchronizationObjectFromCpu, Lock2; then it checks
 * every pixel against the gradient formula, reads the fence through its read-only page,
 * creates and destroys a mutex through libdxg's v1 CreateSynchronizationObject, and destroys
 * everything (the allocation through the v1 DestroyAllocation). Returns 0 on success, the failing step's number otherwise. */
#include <d3dkmt_dxgos.h>

#define WIDTH 64u
#define HEIGHT 48u
#define PITCH (WIDTH * 4u)

static void print(const char *text) {
    uint64_t length = 0;
    while (text[length] != 0) {
        length++;
    }
    dxgos_write_console((const uint8_t *)text, length);
}

static void print_hex(uint64_t value) {
    char text[19] = "0x";
    for (int index = 0; index < 16; index++) {
        unsigned digit = (unsigned)(value >> (60 - 4 * index)) & 0xfu;
        text[2 + index] = (char)(digit < 10 ? '0' + digit : 'a' + digit - 10);
    }
    text[18] = 0;
    print(text);
}

static int fail(int step, const char *call, NTSTATUS status) {
    print("c-demo: ");
    print(call);
    print(" failed with NTSTATUS ");
    print_hex((uint32_t)status);
    print("\n");
    return step;
}

static void zero(void *memory, uint64_t length) {
    volatile uint8_t *bytes = memory;
    for (uint64_t index = 0; index < length; index++) {
        bytes[index] = 0;
    }
}

static uint32_t max_u32(uint32_t left, uint32_t right) { return left > right ? left : right; }

/* The GRADIENT pixel of docs/vgpu-command-processor.md. */
static uint32_t gradient(uint32_t x, uint32_t y) {
    uint32_t red = x * 255u / max_u32(WIDTH - 1u, 1u);
    uint32_t green = y * 255u / max_u32(HEIGHT - 1u, 1u);
    uint32_t blue = (x + y) * 255u / max_u32(WIDTH + HEIGHT - 2u, 1u);
    return 0xff000000u | red << 16 | green << 8 | blue;
}

int dxgos_c_main(void) {
    NTSTATUS status;
    D3DKMT_ADAPTERINFO adapters[4];
    D3DKMT_ENUMADAPTERS2 enumerate;
    zero(&enumerate, sizeof enumerate);
    enumerate.NumAdapters = 4;
    enumerate.pAdapters = adapters;
    if ((status = D3DKMTEnumAdapters2(&enumerate)) != STATUS_SUCCESS) {
        return fail(1, "D3DKMTEnumAdapters2", status);
    }
    if (enumerate.NumAdapters == 0) {
        return fail(1, "D3DKMTEnumAdapters2 (no adapter)", STATUS_UNSUCCESSFUL);
    }

    D3DKMT_CREATEDEVICE device;
    zero(&device, sizeof device);
    device.hAdapter = adapters[0].hAdapter;
    if ((status = D3DKMTCreateDevice(&device)) != STATUS_SUCCESS) {
        return fail(2, "D3DKMTCreateDevice", status);
    }

    D3DKMT_CREATECONTEXTVIRTUAL context;
    zero(&context, sizeof context);
    context.hDevice = device.hDevice;
    if ((status = D3DKMTCreateContextVirtual(&context)) != STATUS_SUCCESS) {
        return fail(3, "D3DKMTCreateContextVirtual", status);
    }

    uint64_t surface_size = (uint64_t)PITCH * HEIGHT;
    D3DDDI_ALLOCATIONINFO2 info;
    zero(&info, sizeof info);
    info.pPrivateDriverData = &surface_size; /* the vGPU reads the size from it */
    info.PrivateDriverDataSize = sizeof surface_size;
    D3DKMT_CREATEALLOCATION allocation;
    zero(&allocation, sizeof allocation);
    allocation.hDevice = device.hDevice;
    allocation.NumAllocations = 1;
    allocation.pAllocationInfo2 = &info;
    if ((status = D3DKMTCreateAllocation2(&allocation)) != STATUS_SUCCESS) {
        return fail(4, "D3DKMTCreateAllocation2", status);
    }

    D3DKMT_CREATESYNCHRONIZATIONOBJECT2 fence;
    zero(&fence, sizeof fence);
    fence.hDevice = device.hDevice;
    fence.Info.Type = D3DDDI_MONITORED_FENCE;
    if ((status = D3DKMTCreateSynchronizationObject2(&fence)) != STATUS_SUCCESS) {
        return fail(5, "D3DKMTCreateSynchronizationObject2", status);
    }

    uint32_t stream[7] = {3u, 28u, info.hAllocation, 0u, WIDTH, HEIGHT, PITCH};
    D3DKMT_SUBMITCOMMAND submit;
    zero(&submit, sizeof submit);
    submit.BroadcastContextCount = 1;
    submit.BroadcastContext[0] = context.hContext;
    submit.pPrivateDriverData = stream;
    submit.PrivateDriverDataSize = sizeof stream;
    if ((status = D3DKMTSubmitCommand(&submit)) != STATUS_SUCCESS) {
        return fail(6, "D3DKMTSubmitCommand", status);
    }

    D3DKMT_HANDLE objects[1] = {fence.hSyncObject};
    UINT64 values[1] = {1};
    D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU signal;
    zero(&signal, sizeof signal);
    signal.hContext = context.hContext;
    signal.ObjectCount = 1;
    signal.ObjectHandleArray = objects;
    signal.MonitoredFenceValueArray = values;
    if ((status = D3DKMTSignalSynchronizationObjectFromGpu(&signal)) != STATUS_SUCCESS) {
        return fail(7, "D3DKMTSignalSynchronizationObjectFromGpu", status);
    }

    D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMCPU wait;
    zero(&wait, sizeof wait);
    wait.hDevice = device.hDevice;
    wait.ObjectCount = 1;
    wait.ObjectHandleArray = objects;
    wait.FenceValueArray = values;
    if ((status = D3DKMTWaitForSynchronizationObjectFromCpu(&wait)) != STATUS_SUCCESS) {
        return fail(8, "D3DKMTWaitForSynchronizationObjectFromCpu", status);
    }
    const volatile UINT64 *fence_value = fence.Info.FenceValueCPUVirtualAddress;
    if (fence_value == 0 || *fence_value < 1) {
        return fail(9, "the fence page", STATUS_UNSUCCESSFUL);
    }
    UINT64 fence_seen = *fence_value; /* the page is unmapped when the fence is destroyed */

    D3DKMT_LOCK2 lock;
    zero(&lock, sizeof lock);
    lock.hDevice = device.hDevice;
    lock.hAllocation = info.hAllocation;
    if ((status = D3DKMTLock2(&lock)) != STATUS_SUCCESS || lock.pData == 0) {
        return fail(10, "D3DKMTLock2", status);
    }
    const volatile uint32_t *pixels = lock.pData;
    uint32_t wrong = 0;
    for (uint32_t y = 0; y < HEIGHT; y++) {
        for (uint32_t x = 0; x < WIDTH; x++) {
            if (pixels[y * (PITCH / 4u) + x] != gradient(x, y)) {
                wrong++;
            }
        }
    }
    D3DKMT_UNLOCK2 unlock = {device.hDevice, info.hAllocation};
    if ((status = D3DKMTUnlock2(&unlock)) != STATUS_SUCCESS) {
        return fail(11, "D3DKMTUnlock2", status);
    }
    if (wrong != 0) {
        print("c-demo: wrong pixels: ");
        print_hex(wrong);
        print("\n");
        return 12;
    }

    /* libdxg's v1 entry points, remapped by userlib to their v2 calls: a mutex created and
     * destroyed, and the allocation destroyed through D3DKMTDestroyAllocation. */
    D3DKMT_CREATESYNCHRONIZATIONOBJECT mutex;
    zero(&mutex, sizeof mutex);
    mutex.hDevice = device.hDevice;
    mutex.Info.Type = D3DDDI_SYNCHRONIZATION_MUTEX;
    if ((status = D3DKMTCreateSynchronizationObject(&mutex)) != STATUS_SUCCESS || mutex.hSyncObject == 0) {
        return fail(14, "D3DKMTCreateSynchronizationObject (v1, mutex)", status);
    }
    D3DKMT_DESTROYSYNCHRONIZATIONOBJECT destroy_mutex = {mutex.hSyncObject};
    if ((status = D3DKMTDestroySynchronizationObject(&destroy_mutex)) != STATUS_SUCCESS) {
        return fail(15, "D3DKMTDestroySynchronizationObject (mutex)", status);
    }

    D3DKMT_DESTROYSYNCHRONIZATIONOBJECT destroy_fence = {fence.hSyncObject};
    D3DKMT_HANDLE allocations[1] = {info.hAllocation};
    D3DKMT_DESTROYALLOCATION destroy_allocation;
    zero(&destroy_allocation, sizeof destroy_allocation);
    destroy_allocation.hDevice = device.hDevice;
    destroy_allocation.phAllocationList = allocations;
    destroy_allocation.AllocationCount = 1;
    D3DKMT_DESTROYCONTEXT destroy_context = {context.hContext};
    D3DKMT_DESTROYDEVICE destroy_device = {device.hDevice};
    D3DKMT_CLOSEADAPTER close_adapter = {adapters[0].hAdapter};
    if ((status = D3DKMTDestroySynchronizationObject(&destroy_fence)) != STATUS_SUCCESS ||
        (status = D3DKMTDestroyAllocation(&destroy_allocation)) != STATUS_SUCCESS ||
        (status = D3DKMTDestroyContext(&destroy_context)) != STATUS_SUCCESS ||
        (status = D3DKMTDestroyDevice(&destroy_device)) != STATUS_SUCCESS ||
        (status = D3DKMTCloseAdapter(&close_adapter)) != STATUS_SUCCESS) {
        return fail(13, "destroying the objects", status);
    }
    print("c-demo: rendered a 64x48 gradient through the D3DKMT C API; every pixel verified; fence page reads ");
    print_hex(fence_seen);
    print("\n");
    return 0;
}
