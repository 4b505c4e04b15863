// A D3DKMT program written the way WSL code is written against Microsoft's headers: C++,
// <wsl/winadapter.h> (DirectX-Headers) first, then <dxg/d3dkmthk.h>, default arguments,
// designated bit-fields and unions. It must build with zero edits against dxgos's header (a test
// in userlib/tests/d3dkmthk.rs compiles it with -Wall -Wextra -Werror) and, once the guest C/C++
// runtime exists, run on dxgos.
//
// What it does: enumerates the adapters (compute-only ones included), queries four kinds of
// adapter information, opens the first adapter by LUID, creates a device, a context and a
// monitored fence, reads the clock calibration and the adapter statistics, signals the fence
// from the CPU and waits for it (WaitAny), and meanwhile a second thread opens and closes the
// same adapter while the first thread holds its device. Then a third thread waits from the CPU
// for a fence value that the main thread signals only once that thread is waiting. Exit status
// 0 = every step succeeded.

#include <wsl/winadapter.h>
#include <dxg/d3dkmthk.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

namespace {

int failures = 0;

// Reports a failed call; returns whether the call succeeded.
bool Check(NTSTATUS status, const char* what, bool required = true)
{
    if (NT_SUCCESS(status)) {
        return true;
    }
    printf("%s failed: 0x%08x%s\n", what, static_cast<unsigned>(status), required ? "" : " (optional)");
    if (required) {
        failures++;
    }
    return false;
}

template <class T>
NTSTATUS QueryAdapterInfo(D3DKMT_HANDLE adapter, KMTQUERYADAPTERINFOTYPE type, T* result,
                          UINT size = sizeof(T))
{
    D3DKMT_QUERYADAPTERINFO query = {};
    query.hAdapter = adapter;
    query.Type = type;
    query.pPrivateDriverData = result;
    query.PrivateDriverDataSize = size;
    return D3DKMTQueryAdapterInfo(&query);
}

NTSTATUS EnumerateAdapters(D3DKMT_ADAPTERINFO* adapters, ULONG* count, bool includeComputeOnly = true,
                           bool includeDisplayOnly = false)
{
    D3DKMT_ENUMADAPTERS3 enumerate = {};
    enumerate.Filter.IncludeComputeOnly = includeComputeOnly ? 1 : 0;
    enumerate.Filter.IncludeDisplayOnly = includeDisplayOnly ? 1 : 0;
    enumerate.NumAdapters = *count;
    enumerate.pAdapters = adapters;
    NTSTATUS status = D3DKMTEnumAdapters3(&enumerate);
    *count = enumerate.NumAdapters;
    return status;
}

NTSTATUS OpenAdapter(LUID luid, D3DKMT_HANDLE* adapter)
{
    D3DKMT_OPENADAPTERFROMLUID open = {};
    open.AdapterLuid = luid;
    NTSTATUS status = D3DKMTOpenAdapterFromLuid(&open);
    *adapter = open.hAdapter;
    return status;
}

void CloseAdapter(D3DKMT_HANDLE adapter)
{
    D3DKMT_CLOSEADAPTER close = {};
    close.hAdapter = adapter;
    Check(D3DKMTCloseAdapter(&close), "D3DKMTCloseAdapter");
}

NTSTATUS CreateContext(D3DKMT_HANDLE device, D3DKMT_HANDLE* context, UINT nodeOrdinal = 0,
                       D3DKMT_CLIENTHINT hint = D3DKMT_CLIENTHINT_DX12)
{
    D3DKMT_CREATECONTEXTVIRTUAL create = {};
    create.hDevice = device;
    create.NodeOrdinal = nodeOrdinal;
    create.EngineAffinity = 0;
    create.Flags.NullRendering = 0;
    create.Flags.HwQueueSupported = 0;
    create.ClientHint = hint;
    NTSTATUS status = D3DKMTCreateContextVirtual(&create);
    *context = create.hContext;
    return status;
}

NTSTATUS CreateMonitoredFence(D3DKMT_HANDLE device, D3DKMT_HANDLE* fence,
                              volatile UINT64** cpuValue, UINT64 initialValue = 0)
{
    D3DKMT_CREATESYNCHRONIZATIONOBJECT2 create = {};
    create.hDevice = device;
    create.Info.Type = D3DDDI_MONITORED_FENCE;
    create.Info.Flags.Shared = 0;
    create.Info.MonitoredFence.InitialFenceValue = initialValue;
    NTSTATUS status = D3DKMTCreateSynchronizationObject2(&create);
    *fence = create.hSyncObject;
    *cpuValue = static_cast<volatile UINT64*>(create.Info.MonitoredFence.FenceValueCPUVirtualAddress);
    return status;
}

struct SecondThread {
    LUID luid;
    NTSTATUS openStatus;
};

// The second thread opens the adapter by LUID and closes it again while the main thread holds
// a device on it.
void* OpenFromSecondThread(void* argument)
{
    SecondThread* work = static_cast<SecondThread*>(argument);
    D3DKMT_HANDLE adapter = 0;
    work->openStatus = OpenAdapter(work->luid, &adapter);
    if (NT_SUCCESS(work->openStatus)) {
        CloseAdapter(adapter);
    }
    return nullptr;
}

struct FenceWaiter {
    D3DKMT_HANDLE device;
    D3DKMT_HANDLE fence;
    UINT64 value;
    int started;
    NTSTATUS waitStatus;
};

void SleepMilliseconds(long milliseconds)
{
    struct timespec pause = {0, milliseconds * 1000 * 1000};
    nanosleep(&pause, nullptr);
}

// The third thread waits from the CPU for a fence value that only the main thread signals.
void* WaitFromThirdThread(void* argument)
{
    FenceWaiter* work = static_cast<FenceWaiter*>(argument);
    D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMCPU wait = {};
    wait.hDevice = work->device;
    wait.ObjectCount = 1;
    wait.ObjectHandleArray = &work->fence;
    wait.FenceValueArray = &work->value;
    __atomic_store_n(&work->started, 1, __ATOMIC_RELEASE);
    work->waitStatus = D3DKMTWaitForSynchronizationObjectFromCpu(&wait);
    return nullptr;
}

// Signals `value` while another thread of this process waits for it from the CPU: the wait
// must not keep this thread's signal out (were one thread's wait to hold the whole process,
// both threads would wait forever).
void SignalWhileAnotherThreadWaits(D3DKMT_HANDLE device, D3DKMT_HANDLE fence, UINT64 value)
{
    FenceWaiter work = {device, fence, value, 0, STATUS_UNSUCCESSFUL};
    pthread_t thread;
    if (pthread_create(&thread, nullptr, WaitFromThirdThread, &work) != 0) {
        printf("pthread_create (waiting thread) failed\n");
        failures++;
        return;
    }
    while (!__atomic_load_n(&work.started, __ATOMIC_ACQUIRE)) {
        SleepMilliseconds(1);
    }
    // Time for the waiter's call to reach the host.
    SleepMilliseconds(50);
    D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMCPU signal = {};
    signal.hDevice = device;
    signal.ObjectCount = 1;
    signal.ObjectHandleArray = &fence;
    signal.FenceValueArray = &value;
    Check(D3DKMTSignalSynchronizationObjectFromCpu(&signal),
          "D3DKMTSignalSynchronizationObjectFromCpu (while another thread waits)");
    pthread_join(thread, nullptr);
    if (Check(work.waitStatus, "D3DKMTWaitForSynchronizationObjectFromCpu (waiting thread)")) {
        printf("a waiting thread saw the fence reach %llu\n", static_cast<unsigned long long>(value));
    }
}

void PrintAdapterInformation(D3DKMT_HANDLE adapter)
{
    D3DKMT_ADAPTERTYPE type = {};
    if (Check(QueryAdapterInfo(adapter, KMTQAITYPE_ADAPTERTYPE_RENDER, &type), "KMTQAITYPE_ADAPTERTYPE_RENDER")) {
        printf("adapter type: render %u, paravirtualized %u, compute only %u\n", type.RenderSupported,
               type.Paravirtualized, type.ComputeOnly);
    }

    D3DKMT_QUERY_DEVICE_IDS ids = {};
    ids.PhysicalAdapterIndex = 0;
    if (Check(QueryAdapterInfo(adapter, KMTQAITYPE_PHYSICALADAPTERDEVICEIDS, &ids),
              "KMTQAITYPE_PHYSICALADAPTERDEVICEIDS")) {
        printf("device ids: vendor %04x device %04x revision %u\n", ids.DeviceIds.VendorID,
               ids.DeviceIds.DeviceID, ids.DeviceIds.RevisionID);
    }

    static D3DKMT_DRIVER_DESCRIPTION description;
    memset(&description, 0, sizeof(description));
    if (Check(QueryAdapterInfo(adapter, KMTQAITYPE_DRIVER_DESCRIPTION, &description),
              "KMTQAITYPE_DRIVER_DESCRIPTION")) {
        printf("driver: %ls\n", description.DriverDescription);
    }

    D3DKMT_WDDM_2_7_CAPS caps = {};
    if (Check(QueryAdapterInfo(adapter, KMTQAITYPE_WDDM_2_7_CAPS, &caps), "KMTQAITYPE_WDDM_2_7_CAPS",
              false)) {
        printf("hardware scheduling: supported %u, enabled %u\n", caps.HwSchSupported, caps.HwSchEnabled);
    }
}

void PrintClockAndStatistics(D3DKMT_HANDLE adapter, LUID luid)
{
    D3DKMT_QUERYCLOCKCALIBRATION clock = {};
    clock.hAdapter = adapter;
    clock.NodeOrdinal = 0;
    clock.PhysicalAdapterIndex = 0;
    if (Check(D3DKMTQueryClockCalibration(&clock), "D3DKMTQueryClockCalibration", false)) {
        printf("gpu clock: %llu Hz, counter %llu\n", static_cast<unsigned long long>(clock.ClockData.GpuFrequency),
               static_cast<unsigned long long>(clock.ClockData.GpuClockCounter));
    }

    static D3DKMT_QUERYSTATISTICS statistics;
    memset(&statistics, 0, sizeof(statistics));
    statistics.Type = D3DKMT_QUERYSTATISTICS_ADAPTER;
    statistics.AdapterLuid = luid;
    if (Check(D3DKMTQueryStatistics(&statistics), "D3DKMTQueryStatistics", false)) {
        printf("statistics: %lu segments, %lu nodes\n",
               static_cast<unsigned long>(statistics.QueryResult.AdapterInformation.NbSegments),
               static_cast<unsigned long>(statistics.QueryResult.AdapterInformation.NodeCount));
    }
    statistics.Type = D3DKMT_QUERYSTATISTICS_SEGMENT;
    statistics.QuerySegment.SegmentId = 0;
    if (Check(D3DKMTQueryStatistics(&statistics), "D3DKMTQueryStatistics(segment 0)", false)) {
        printf("segment 0: commit limit %llu bytes\n",
               static_cast<unsigned long long>(statistics.QueryResult.SegmentInformation.CommitLimit));
    }
}

// Signals the fence from the CPU and waits for that value (WaitAny over one object).
void SignalAndWait(D3DKMT_HANDLE device, D3DKMT_HANDLE fence, volatile UINT64* cpuValue, UINT64 value = 1)
{
    D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMCPU signal = {};
    signal.hDevice = device;
    signal.ObjectCount = 1;
    signal.ObjectHandleArray = &fence;
    signal.FenceValueArray = &value;
    signal.Flags.SignalAtSubmission = 0;
    Check(D3DKMTSignalSynchronizationObjectFromCpu(&signal), "D3DKMTSignalSynchronizationObjectFromCpu");

    D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMCPU wait = {};
    wait.hDevice = device;
    wait.ObjectCount = 1;
    wait.ObjectHandleArray = &fence;
    wait.FenceValueArray = &value;
    wait.hAsyncEvent = nullptr;
    wait.Flags.WaitAny = 1;
    if (Check(D3DKMTWaitForSynchronizationObjectFromCpu(&wait), "D3DKMTWaitForSynchronizationObjectFromCpu")) {
        printf("fence reached %llu (cpu view %llu)\n", static_cast<unsigned long long>(value),
               static_cast<unsigned long long>(cpuValue ? *cpuValue : 0));
    }
}

} // namespace

int main()
{
    D3DKMT_ADAPTERINFO adapters[MAX_ENUM_ADAPTERS] = {};
    ULONG count = MAX_ENUM_ADAPTERS;
    if (!Check(EnumerateAdapters(adapters, &count), "D3DKMTEnumAdapters3") || count == 0) {
        printf("no adapter\n");
        return 1;
    }
    printf("%lu adapter(s)\n", static_cast<unsigned long>(count));
    // EnumAdapters3 opened every adapter it returned; keep none of those handles.
    for (ULONG i = 0; i < count; i++) {
        CloseAdapter(adapters[i].hAdapter);
    }

    D3DKMT_HANDLE adapter = 0;
    if (!Check(OpenAdapter(adapters[0].AdapterLuid, &adapter), "D3DKMTOpenAdapterFromLuid")) {
        return 1;
    }
    PrintAdapterInformation(adapter);

    D3DKMT_CREATEDEVICE createDevice = {};
    createDevice.hAdapter = adapter;
    createDevice.Flags.LegacyMode = 0;
    if (!Check(D3DKMTCreateDevice(&createDevice), "D3DKMTCreateDevice")) {
        CloseAdapter(adapter);
        return 1;
    }
    D3DKMT_HANDLE device = createDevice.hDevice;

    SecondThread work = {adapters[0].AdapterLuid, STATUS_UNSUCCESSFUL};
    pthread_t thread;
    bool threadStarted = pthread_create(&thread, nullptr, OpenFromSecondThread, &work) == 0;
    if (!threadStarted) {
        printf("pthread_create failed\n");
        failures++;
    }

    D3DKMT_HANDLE context = 0;
    Check(CreateContext(device, &context), "D3DKMTCreateContextVirtual");
    D3DKMT_HANDLE fence = 0;
    volatile UINT64* cpuValue = nullptr;
    if (Check(CreateMonitoredFence(device, &fence, &cpuValue), "D3DKMTCreateSynchronizationObject2")) {
        SignalAndWait(device, fence, cpuValue);
        SignalWhileAnotherThreadWaits(device, fence, 2);
    }
    PrintClockAndStatistics(adapter, adapters[0].AdapterLuid);

    if (threadStarted) {
        pthread_join(thread, nullptr);
        Check(work.openStatus, "D3DKMTOpenAdapterFromLuid (second thread)");
    }

    if (fence != 0) {
        D3DKMT_DESTROYSYNCHRONIZATIONOBJECT destroyFence = {};
        destroyFence.hSyncObject = fence;
        Check(D3DKMTDestroySynchronizationObject(&destroyFence), "D3DKMTDestroySynchronizationObject");
    }
    if (context != 0) {
        D3DKMT_DESTROYCONTEXT destroyContext = {};
        destroyContext.hContext = context;
        Check(D3DKMTDestroyContext(&destroyContext), "D3DKMTDestroyContext");
    }
    D3DKMT_DESTROYDEVICE destroyDevice = {};
    destroyDevice.hDevice = device;
    Check(D3DKMTDestroyDevice(&destroyDevice), "D3DKMTDestroyDevice");
    CloseAdapter(adapter);

    printf("%s\n", failures == 0 ? "wsl-style D3DKMT test passed" : "wsl-style D3DKMT test FAILED");
    return failures == 0 ? 0 : 1;
}
