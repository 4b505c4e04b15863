/* dxg/d3dkmthk.h: the D3DKMT API of dxgos, as a drop-in for the d3dkmthk.h that WSL programs
 * include (microsoft/libdxg include/dxg/d3dkmthk.h).
 *
 * Written for dxgos from the facts of Microsoft's headers (names, values, layouts of
 * microsoft/libdxg include/dxg/d3dkmthk.h, d3dukmdt.h and d3dkmdt.h, and of the WSL kernel's
 * include/uapi/misc/d3dkmthk.h where the ioctl layout is what counts). Only the entry points
 * dxgos exports and the types they and their callers need are here; docs/d3dkmt.md lists every
 * remaining difference from Microsoft's header.
 *
 * One source of truth: the layouts are those of the Rust ABI (userlib/src/abi). The test
 * userlib/tests/d3dkmthk.rs compiles a check program generated from the Rust tables against this
 * header (the size, alignment and every field offset of every Rust struct, every enum value and
 * flag bit), as C11 and C++17, with and without <wsl/winadapter.h>.
 *
 * Two modes, chosen by what was included before this header:
 *
 * - After <wsl/winadapter.h> (DirectX-Headers, Debian's directx-headers-dev; include path = the
 *   package's include folder and its wsl/stubs folder): the Windows base types (UINT, LUID,
 *   HANDLE, WCHAR, ...) are winadapter's. Detected by the macros RPC_NO_WINDOWS_H and
 *   COM_NO_WINDOWS_H, which winadapter.h's stubs/basetsd.h defines before its typedefs. WCHAR
 *   is then wchar_t (4 bytes), as in libdxg: structs holding WCHAR arrays have their Linux
 *   sizes, and D3DKMTQueryAdapterInfo converts the host's UTF-16 into wchar_t for the query
 *   types that carry strings (see docs/d3dkmt.md, "WCHAR").
 * - Alone: this header defines the base types itself, with the Windows widths; WCHAR is a
 *   16-bit UTF-16 code unit (char16_t in C++, uint16_t in C), the host's own layout.
 *
 * Include <wsl/winadapter.h> first or not at all: included after this header it would redefine
 * LUID and the other base types. */
#ifndef _D3DKMTHK_H_
#define _D3DKMTHK_H_

#include <stddef.h>
#include <stdint.h>

#if defined(RPC_NO_WINDOWS_H) && defined(COM_NO_WINDOWS_H)
#define DXGOS_D3DKMT_WINADAPTER 1
#else
#define DXGOS_D3DKMT_WINADAPTER 0
#endif

#ifdef __cplusplus
#define DXGOS_D3DKMT_STATIC_ASSERT(condition, message) static_assert(condition, message)
#else
#define DXGOS_D3DKMT_STATIC_ASSERT(condition, message) _Static_assert(condition, message)
#endif

/* ---------------------------------------------------------------------------------------------
 * Windows base types (standalone mode only; winadapter.h supplies them otherwise).
 * ------------------------------------------------------------------------------------------- */
#if !DXGOS_D3DKMT_WINADAPTER
typedef uint8_t UINT8;
typedef int8_t INT8;
typedef uint16_t UINT16;
typedef int16_t INT16;
typedef uint32_t UINT32, UINT, ULONG, DWORD, BOOL;
typedef int32_t INT32, INT, LONG;
typedef uint64_t UINT64, ULONG64, ULONGLONG, ULONG_PTR, UINT_PTR, SIZE_T;
typedef int64_t INT64, LONG64, LONGLONG, LONG_PTR, INT_PTR;
typedef void VOID, *PVOID, *HANDLE, *LPVOID;
typedef uint8_t BYTE, UCHAR;
typedef char BOOLEAN, CHAR;
typedef uint16_t USHORT, WORD;
typedef float FLOAT;
#ifdef __cplusplus
typedef char16_t WCHAR;
#else
typedef uint16_t WCHAR;
#endif
typedef WCHAR *PWSTR;
typedef const WCHAR *PCWSTR;
typedef int HWND;
typedef int HDC;

typedef struct _LUID {
    ULONG LowPart;
    LONG HighPart;
} LUID;

typedef union _LARGE_INTEGER {
    struct {
        uint32_t LowPart;
        uint32_t HighPart;
    } u;
    int64_t QuadPart;
} LARGE_INTEGER;
typedef LARGE_INTEGER *PLARGE_INTEGER;

typedef struct _RECT {
    int left;
    int top;
    int right;
    int bottom;
} RECT;

typedef struct tagPOINT {
    int x;
    int y;
} POINT;

typedef struct _GUID {
    uint32_t Data1;
    uint16_t Data2;
    uint16_t Data3;
    uint8_t Data4[8];
} GUID;

#ifndef APIENTRY
#define APIENTRY
#endif
#ifndef CONST
#define CONST const
#endif
#ifndef MAX_PATH
#define MAX_PATH 260
#endif
#ifndef TRUE
#define TRUE 1u
#endif
#ifndef FALSE
#define FALSE 0u
#endif
#ifndef EXTERN_C
#ifdef __cplusplus
#define EXTERN_C extern "C"
#else
#define EXTERN_C extern
#endif
#endif
#endif /* !DXGOS_D3DKMT_WINADAPTER */

/* NTSTATUS: libdxg defines it as a macro for int32_t; a program may also have its own typedef
 * (the same type, so the repeated typedef is allowed). */
#ifndef NTSTATUS
typedef int32_t NTSTATUS;
#endif

#ifndef STATUS_SUCCESS
#define STATUS_SUCCESS ((NTSTATUS)0x00000000L)
#endif
#ifndef STATUS_TIMEOUT
#define STATUS_TIMEOUT ((NTSTATUS)0x00000102L)
#endif
#ifndef STATUS_PENDING
#define STATUS_PENDING ((NTSTATUS)0x00000103L)
#endif
#ifndef STATUS_UNSUCCESSFUL
#define STATUS_UNSUCCESSFUL ((NTSTATUS)0xC0000001L)
#endif
#ifndef STATUS_NOT_IMPLEMENTED
#define STATUS_NOT_IMPLEMENTED ((NTSTATUS)0xC0000002L)
#endif
#ifndef STATUS_INFO_LENGTH_MISMATCH
#define STATUS_INFO_LENGTH_MISMATCH ((NTSTATUS)0xC0000004L)
#endif
#ifndef STATUS_ACCESS_VIOLATION
#define STATUS_ACCESS_VIOLATION ((NTSTATUS)0xC0000005L)
#endif
#ifndef STATUS_INVALID_HANDLE
#define STATUS_INVALID_HANDLE ((NTSTATUS)0xC0000008L)
#endif
#ifndef STATUS_INVALID_PARAMETER
#define STATUS_INVALID_PARAMETER ((NTSTATUS)0xC000000DL)
#endif
#ifndef STATUS_NO_MEMORY
#define STATUS_NO_MEMORY ((NTSTATUS)0xC0000017L)
#endif
#ifndef STATUS_INVALID_SYSTEM_SERVICE
#define STATUS_INVALID_SYSTEM_SERVICE ((NTSTATUS)0xC000001CL)
#endif
#ifndef STATUS_ILLEGAL_INSTRUCTION
#define STATUS_ILLEGAL_INSTRUCTION ((NTSTATUS)0xC000001DL)
#endif
#ifndef STATUS_ACCESS_DENIED
#define STATUS_ACCESS_DENIED ((NTSTATUS)0xC0000022L)
#endif
#ifndef STATUS_BUFFER_TOO_SMALL
#define STATUS_BUFFER_TOO_SMALL ((NTSTATUS)0xC0000023L)
#endif
#ifndef STATUS_OBJECT_TYPE_MISMATCH
#define STATUS_OBJECT_TYPE_MISMATCH ((NTSTATUS)0xC0000024L)
#endif
#ifndef STATUS_OBJECT_NAME_INVALID
#define STATUS_OBJECT_NAME_INVALID ((NTSTATUS)0xC0000033L)
#endif
#ifndef STATUS_OBJECT_NAME_NOT_FOUND
#define STATUS_OBJECT_NAME_NOT_FOUND ((NTSTATUS)0xC0000034L)
#endif
#ifndef STATUS_OBJECT_NAME_COLLISION
#define STATUS_OBJECT_NAME_COLLISION ((NTSTATUS)0xC0000035L)
#endif
#ifndef STATUS_NOT_SUPPORTED
#define STATUS_NOT_SUPPORTED ((NTSTATUS)0xC00000BBL)
#endif
#ifndef STATUS_DEVICE_REMOVED
#define STATUS_DEVICE_REMOVED ((NTSTATUS)0xC00002B6L)
#endif
#ifndef STATUS_GRAPHICS_ALLOCATION_BUSY
#define STATUS_GRAPHICS_ALLOCATION_BUSY ((NTSTATUS)0xC01E0102L)
#endif
#ifndef NT_SUCCESS
#define NT_SUCCESS(status) (((NTSTATUS)(status)) >= 0)
#endif

/* ---------------------------------------------------------------------------------------------
 * Fixed x86-64 layout helpers (libdxg's non-Windows definitions: every pointer is a union with a
 * 64-bit integer, every 64-bit field 8-byte aligned).
 * ------------------------------------------------------------------------------------------- */
#if defined(__cplusplus) && __cplusplus >= 201103L
#define D3DKMT_ALIGN64 alignas(8)
#else
#define D3DKMT_ALIGN64 __attribute__((aligned(8)))
#endif
#define D3DKMT_PTR_HELPER(Name) D3DKMT_ALIGN64 UINT64 Name;
#define D3DKMT_PTR(Type, Name) \
    union D3DKMT_ALIGN64 {     \
        D3DKMT_PTR_HELPER(Name##_Align) Type Name; \
    }
#define D3DKMT_PTR_INIT(x) { (UINT64)(SIZE_T)(x) }
typedef UINT64 D3DKMT_SIZE_T, D3DKMT_UINT_PTR, D3DKMT_ULONG_PTR;
typedef union _D3DKMT_PTR_TYPE {
    D3DKMT_PTR_HELPER(Ptr_Align)
    HANDLE Ptr;
} D3DKMT_PTR_TYPE;

typedef struct _OBJECT_ATTRIBUTES OBJECT_ATTRIBUTES;
typedef OBJECT_ATTRIBUTES *POBJECT_ATTRIBUTES;

/* ---------------------------------------------------------------------------------------------
 * d3dukmdt.h: user/kernel shared types.
 * ------------------------------------------------------------------------------------------- */
#define DXGKDDI_INTERFACE_VERSION_WDDM2_7 0xC004
#define DXGKDDI_INTERFACE_VERSION_WDDM3_2 0x11007
#ifndef DXGKDDI_INTERFACE_VERSION
#define DXGKDDI_INTERFACE_VERSION DXGKDDI_INTERFACE_VERSION_WDDM3_2
#endif

typedef UINT D3DKMT_HANDLE;
typedef ULONGLONG D3DGPU_VIRTUAL_ADDRESS;
typedef ULONGLONG D3DGPU_SIZE_T;
typedef UINT D3DDDI_VIDEO_PRESENT_SOURCE_ID;
typedef UINT D3DDDI_VIDEO_PRESENT_TARGET_ID;

#define D3DGPU_NULL 0
#define D3DDDI_MAX_WRITTEN_PRIMARIES 16
#define D3DDDI_MAX_BROADCAST_CONTEXT 64
#define D3DDDI_MAX_OBJECT_WAITED_ON 32
#define D3DDDI_MAX_OBJECT_SIGNALED 32
#define D3DDDI_ALLOCATIONPRIORITY_MINIMUM 0x28000000
#define D3DDDI_ALLOCATIONPRIORITY_LOW 0x50000000
#define D3DDDI_ALLOCATIONPRIORITY_NORMAL 0x78000000
#define D3DDDI_ALLOCATIONPRIORITY_HIGH 0xa0000000
#define D3DDDI_ALLOCATIONPRIORITY_MAXIMUM 0xc8000000
#define D3DDDI_SYNC_OBJECT_WAIT 0x1
#define D3DDDI_SYNC_OBJECT_SIGNAL 0x2

typedef struct _D3DDDI_ALLOCATIONINFO {
    D3DKMT_HANDLE hAllocation;
    D3DKMT_PTR(CONST VOID*, pSystemMem);
    D3DKMT_PTR(VOID*, pPrivateDriverData);
    UINT PrivateDriverDataSize;
    D3DDDI_VIDEO_PRESENT_SOURCE_ID VidPnSourceId;
    union {
        struct {
            UINT Primary : 1;
            UINT Stereo : 1;
            UINT Reserved : 30;
        };
        UINT Value;
    } Flags;
} D3DDDI_ALLOCATIONINFO;

typedef struct _D3DDDI_ALLOCATIONINFO2 {
    D3DKMT_HANDLE hAllocation;
    union D3DKMT_ALIGN64 {
        D3DKMT_PTR_HELPER(pSystemMem_hSection_Align)
        HANDLE hSection;
        CONST VOID* pSystemMem;
    };
    D3DKMT_PTR(VOID*, pPrivateDriverData);
    UINT PrivateDriverDataSize;
    D3DDDI_VIDEO_PRESENT_SOURCE_ID VidPnSourceId;
    union {
        struct {
            UINT Primary : 1;
            UINT Stereo : 1;
            UINT OverridePriority : 1;
            UINT Reserved : 29;
        };
        UINT Value;
    } Flags;
    D3DKMT_ALIGN64 D3DGPU_VIRTUAL_ADDRESS GpuVirtualAddress;
    union {
        UINT Priority;
        D3DKMT_ALIGN64 ULONG_PTR Unused;
    };
    D3DKMT_ALIGN64 ULONG_PTR Reserved[5];
} D3DDDI_ALLOCATIONINFO2;

typedef struct _D3DDDI_OPENALLOCATIONINFO {
    D3DKMT_HANDLE hAllocation;
    D3DKMT_PTR(CONST VOID*, pPrivateDriverData);
    UINT PrivateDriverDataSize;
} D3DDDI_OPENALLOCATIONINFO;

typedef struct _D3DDDI_OPENALLOCATIONINFO2 {
    D3DKMT_HANDLE hAllocation;
    D3DKMT_PTR(CONST VOID*, pPrivateDriverData);
    UINT PrivateDriverDataSize;
    D3DKMT_ALIGN64 D3DGPU_VIRTUAL_ADDRESS GpuVirtualAddress;
    D3DKMT_ALIGN64 ULONG_PTR Reserved[6];
} D3DDDI_OPENALLOCATIONINFO2;

typedef enum _D3DDDI_OFFER_PRIORITY {
    D3DDDI_OFFER_PRIORITY_NONE = 0,
    D3DDDI_OFFER_PRIORITY_LOW = 1,
    D3DDDI_OFFER_PRIORITY_NORMAL = 2,
    D3DDDI_OFFER_PRIORITY_HIGH = 3,
    D3DDDI_OFFER_PRIORITY_AUTO = 4,
} D3DDDI_OFFER_PRIORITY;

typedef struct _D3DDDI_ALLOCATIONLIST {
    D3DKMT_HANDLE hAllocation;
    union {
        struct {
            UINT WriteOperation : 1;
            UINT DoNotRetireInstance : 1;
            UINT OfferPriority : 3;
            UINT Reserved : 27;
        };
        UINT Value;
    };
} D3DDDI_ALLOCATIONLIST;

typedef struct _D3DDDI_PATCHLOCATIONLIST {
    UINT AllocationIndex;
    union {
        struct {
            UINT SlotId : 24;
            UINT Reserved : 8;
        };
        UINT Value;
    };
    UINT DriverId;
    UINT AllocationOffset;
    UINT PatchOffset;
    UINT SplitOffset;
} D3DDDI_PATCHLOCATIONLIST;

typedef struct _D3DDDICB_LOCKFLAGS {
    union {
        struct {
            UINT ReadOnly : 1;
            UINT WriteOnly : 1;
            UINT DonotWait : 1;
            UINT IgnoreSync : 1;
            UINT LockEntire : 1;
            UINT DonotEvict : 1;
            UINT AcquireAperture : 1;
            UINT Discard : 1;
            UINT NoExistingReference : 1;
            UINT UseAlternateVA : 1;
            UINT IgnoreReadSync : 1;
            UINT Reserved : 21;
        };
        UINT Value;
    };
} D3DDDICB_LOCKFLAGS;

typedef struct _D3DDDICB_LOCK2FLAGS {
    union {
        struct {
            UINT Reserved : 32;
        };
        UINT Value;
    };
} D3DDDICB_LOCK2FLAGS;

typedef struct _D3DDDICB_DESTROYALLOCATION2FLAGS {
    union {
        struct {
            UINT AssumeNotInUse : 1;
            UINT SynchronousDestroy : 1;
            UINT Reserved : 29;
            UINT SystemUseOnly : 1;
        };
        UINT Value;
    };
} D3DDDICB_DESTROYALLOCATION2FLAGS;

typedef struct _D3DDDI_ESCAPEFLAGS {
    union {
        struct {
            UINT HardwareAccess : 1;
            UINT DeviceStatusQuery : 1;
            UINT ChangeFrameLatency : 1;
            UINT NoAdapterSynchronization : 1;
            UINT Reserved : 1;
            UINT VirtualMachineData : 1;
            UINT DriverKnownEscape : 1;
            UINT DriverCommonEscape : 1;
            UINT Reserved2 : 24;
        };
        UINT Value;
    };
} D3DDDI_ESCAPEFLAGS;

typedef struct _D3DDDI_CREATECONTEXTFLAGS {
    union {
        struct {
            UINT NullRendering : 1;
            UINT InitialData : 1;
            UINT DisableGpuTimeout : 1;
            UINT SynchronizationOnly : 1;
            UINT HwQueueSupported : 1;
            UINT NoKmdAccess : 1;
            UINT TestContext : 1;
            UINT Reserved : 25;
        };
        UINT Value;
    };
} D3DDDI_CREATECONTEXTFLAGS;

typedef struct _D3DDDI_CREATEHWCONTEXTFLAGS {
    union {
        struct {
            UINT Reserved : 32;
        };
        UINT Value;
    };
} D3DDDI_CREATEHWCONTEXTFLAGS;

typedef struct _D3DDDI_CREATEHWQUEUEFLAGS {
    union {
        struct {
            UINT DisableGpuTimeout : 1;
            UINT NoBroadcastSignal : 1;
            UINT NoBroadcastWait : 1;
            UINT NoKmdAccess : 1;
            UINT UserModeSubmission : 1;
            UINT NativeProgressFence : 1;
            UINT TestQueue : 1;
            UINT Reserved : 25;
        };
        UINT Value;
    };
} D3DDDI_CREATEHWQUEUEFLAGS;

typedef struct _D3DDDI_SEGMENTPREFERENCE {
    union {
        struct {
            UINT SegmentId0 : 5;
            UINT Direction0 : 1;
            UINT SegmentId1 : 5;
            UINT Direction1 : 1;
            UINT SegmentId2 : 5;
            UINT Direction2 : 1;
            UINT SegmentId3 : 5;
            UINT Direction3 : 1;
            UINT SegmentId4 : 5;
            UINT Direction4 : 1;
            UINT Reserved : 2;
        };
        UINT Value;
    };
} D3DDDI_SEGMENTPREFERENCE;

typedef struct _D3DDDICB_SIGNALFLAGS {
    union {
        struct {
            UINT SignalAtSubmission : 1;
            UINT EnqueueCpuEvent : 1;
            UINT AllowFenceRewind : 1;
            UINT Reserved : 28;
            UINT DXGK_SIGNAL_FLAG_INTERNAL0 : 1;
        };
        UINT Value;
    };
} D3DDDICB_SIGNALFLAGS;

typedef enum _D3DDDI_SYNCHRONIZATIONOBJECT_TYPE {
    D3DDDI_SYNCHRONIZATION_MUTEX = 1,
    D3DDDI_SEMAPHORE = 2,
    D3DDDI_FENCE = 3,
    D3DDDI_CPU_NOTIFICATION = 4,
    D3DDDI_MONITORED_FENCE = 5,
    D3DDDI_PERIODIC_MONITORED_FENCE = 6,
    D3DDDI_NATIVE_FENCE = 7,
    D3DDDI_SYNCHRONIZATION_TYPE_LIMIT
} D3DDDI_SYNCHRONIZATIONOBJECT_TYPE;

typedef enum D3DDDI_PAGINGQUEUE_PRIORITY {
    D3DDDI_PAGINGQUEUE_PRIORITY_BELOW_NORMAL = -1,
    D3DDDI_PAGINGQUEUE_PRIORITY_NORMAL = 0,
    D3DDDI_PAGINGQUEUE_PRIORITY_ABOVE_NORMAL = 1,
} D3DDDI_PAGINGQUEUE_PRIORITY;

typedef struct D3DDDI_MAKERESIDENT_FLAGS {
    union {
        struct {
            UINT CantTrimFurther : 1;
            UINT MustSucceed : 1;
            UINT Reserved : 30;
        };
        UINT Value;
    };
} D3DDDI_MAKERESIDENT_FLAGS;

typedef struct D3DDDI_MAKERESIDENT {
    D3DKMT_HANDLE hPagingQueue;
    UINT NumAllocations;
    D3DKMT_PTR(CONST D3DKMT_HANDLE*, AllocationList);
    D3DKMT_PTR(CONST UINT*, PriorityList);
    D3DDDI_MAKERESIDENT_FLAGS Flags;
    D3DKMT_ALIGN64 UINT64 PagingFenceValue;
    D3DKMT_ALIGN64 UINT64 NumBytesToTrim;
} D3DDDI_MAKERESIDENT;

typedef struct D3DDDI_EVICT_FLAGS {
    union {
        struct {
            UINT EvictOnlyIfNecessary : 1;
            UINT NotWrittenTo : 1;
            UINT Reserved : 30;
        };
        UINT Value;
    };
} D3DDDI_EVICT_FLAGS;

typedef struct D3DDDI_TRIMRESIDENCYSET_FLAGS {
    union {
        struct {
            UINT PeriodicTrim : 1;
            UINT RestartPeriodicTrim : 1;
            UINT TrimToBudget : 1;
            UINT Reserved : 29;
        };
        UINT Value;
    };
} D3DDDI_TRIMRESIDENCYSET_FLAGS;

typedef struct _D3DDDIGPUVIRTUALADDRESS_PROTECTION_TYPE {
    union {
        struct {
            UINT64 Write : 1;
            UINT64 Execute : 1;
            UINT64 Zero : 1;
            UINT64 NoAccess : 1;
            UINT64 SystemUseOnly : 1;
            UINT64 Reserved : 59;
        };
        D3DKMT_ALIGN64 UINT64 Value;
    };
} D3DDDIGPUVIRTUALADDRESS_PROTECTION_TYPE;

typedef enum _D3DDDI_UPDATEGPUVIRTUALADDRESS_OPERATION_TYPE {
    D3DDDI_UPDATEGPUVIRTUALADDRESS_MAP = 0,
    D3DDDI_UPDATEGPUVIRTUALADDRESS_UNMAP = 1,
    D3DDDI_UPDATEGPUVIRTUALADDRESS_COPY = 2,
    D3DDDI_UPDATEGPUVIRTUALADDRESS_MAP_PROTECT = 3,
} D3DDDI_UPDATEGPUVIRTUALADDRESS_OPERATION_TYPE;

typedef struct _D3DDDI_UPDATEGPUVIRTUALADDRESS_OPERATION {
    D3DDDI_UPDATEGPUVIRTUALADDRESS_OPERATION_TYPE OperationType;
    union {
        struct {
            D3DKMT_ALIGN64 D3DGPU_VIRTUAL_ADDRESS BaseAddress;
            D3DKMT_ALIGN64 D3DGPU_SIZE_T SizeInBytes;
            D3DKMT_HANDLE hAllocation;
            D3DKMT_ALIGN64 D3DGPU_SIZE_T AllocationOffsetInBytes;
            D3DKMT_ALIGN64 D3DGPU_SIZE_T AllocationSizeInBytes;
        } Map;
        struct {
            D3DKMT_ALIGN64 D3DGPU_VIRTUAL_ADDRESS BaseAddress;
            D3DKMT_ALIGN64 D3DGPU_SIZE_T SizeInBytes;
            D3DKMT_HANDLE hAllocation;
            D3DKMT_ALIGN64 D3DGPU_SIZE_T AllocationOffsetInBytes;
            D3DKMT_ALIGN64 D3DGPU_SIZE_T AllocationSizeInBytes;
            D3DDDIGPUVIRTUALADDRESS_PROTECTION_TYPE Protection;
            D3DKMT_ALIGN64 UINT64 DriverProtection;
        } MapProtect;
        struct {
            D3DKMT_ALIGN64 D3DGPU_VIRTUAL_ADDRESS BaseAddress;
            D3DKMT_ALIGN64 D3DGPU_SIZE_T SizeInBytes;
            D3DDDIGPUVIRTUALADDRESS_PROTECTION_TYPE Protection;
        } Unmap;
        struct {
            D3DKMT_ALIGN64 D3DGPU_VIRTUAL_ADDRESS SourceAddress;
            D3DKMT_ALIGN64 D3DGPU_SIZE_T SizeInBytes;
            D3DKMT_ALIGN64 D3DGPU_VIRTUAL_ADDRESS DestAddress;
        } Copy;
    };
} D3DDDI_UPDATEGPUVIRTUALADDRESS_OPERATION;

typedef enum _D3DDDIGPUVIRTUALADDRESS_RESERVATION_TYPE {
    D3DDDIGPUVIRTUALADDRESS_RESERVE_NO_ACCESS = 0,
    D3DDDIGPUVIRTUALADDRESS_RESERVE_ZERO = 1,
    D3DDDIGPUVIRTUALADDRESS_RESERVE_NO_COMMIT = 2
} D3DDDIGPUVIRTUALADDRESS_RESERVATION_TYPE;

typedef struct D3DDDI_MAPGPUVIRTUALADDRESS {
    D3DKMT_HANDLE hPagingQueue;
    D3DKMT_ALIGN64 D3DGPU_VIRTUAL_ADDRESS BaseAddress;
    D3DKMT_ALIGN64 D3DGPU_VIRTUAL_ADDRESS MinimumAddress;
    D3DKMT_ALIGN64 D3DGPU_VIRTUAL_ADDRESS MaximumAddress;
    D3DKMT_HANDLE hAllocation;
    D3DKMT_ALIGN64 D3DGPU_SIZE_T OffsetInPages;
    D3DKMT_ALIGN64 D3DGPU_SIZE_T SizeInPages;
    D3DDDIGPUVIRTUALADDRESS_PROTECTION_TYPE Protection;
    D3DKMT_ALIGN64 UINT64 DriverProtection;
    UINT Reserved0;
    D3DKMT_ALIGN64 UINT64 Reserved1;
    D3DKMT_ALIGN64 D3DGPU_VIRTUAL_ADDRESS VirtualAddress;
    D3DKMT_ALIGN64 UINT64 PagingFenceValue;
} D3DDDI_MAPGPUVIRTUALADDRESS;

typedef struct D3DDDI_RESERVEGPUVIRTUALADDRESS {
    union {
        D3DKMT_HANDLE hPagingQueue;
        D3DKMT_HANDLE hAdapter;
    };
    D3DKMT_ALIGN64 D3DGPU_VIRTUAL_ADDRESS BaseAddress;
    D3DKMT_ALIGN64 D3DGPU_VIRTUAL_ADDRESS MinimumAddress;
    D3DKMT_ALIGN64 D3DGPU_VIRTUAL_ADDRESS MaximumAddress;
    D3DKMT_ALIGN64 D3DGPU_SIZE_T Size;
    union {
        D3DDDIGPUVIRTUALADDRESS_RESERVATION_TYPE ReservationType;
        UINT Reserved0;
    };
    union {
        D3DKMT_ALIGN64 UINT64 DriverProtection;
        D3DKMT_ALIGN64 UINT64 Reserved1;
    };
    D3DKMT_ALIGN64 D3DGPU_VIRTUAL_ADDRESS VirtualAddress;
    union {
        D3DKMT_ALIGN64 UINT64 PagingFenceValue;
        D3DKMT_ALIGN64 UINT64 Reserved2;
    };
} D3DDDI_RESERVEGPUVIRTUALADDRESS;

typedef struct D3DDDI_DESTROYPAGINGQUEUE {
    D3DKMT_HANDLE hPagingQueue;
} D3DDDI_DESTROYPAGINGQUEUE;

typedef struct D3DDDI_UPDATEALLOCPROPERTY_FLAGS {
    union {
        struct {
            UINT AccessedPhysically : 1;
            UINT Unmoveable : 1;
            UINT Reserved : 30;
        };
        UINT Value;
    };
} D3DDDI_UPDATEALLOCPROPERTY_FLAGS;

typedef struct D3DDDI_UPDATEALLOCPROPERTY {
    D3DKMT_HANDLE hPagingQueue;
    D3DKMT_HANDLE hAllocation;
    UINT SupportedSegmentSet;
    D3DDDI_SEGMENTPREFERENCE PreferredSegment;
    D3DDDI_UPDATEALLOCPROPERTY_FLAGS Flags;
    D3DKMT_ALIGN64 UINT64 PagingFenceValue;
    union {
        struct {
            UINT SetAccessedPhysically : 1;
            UINT SetSupportedSegmentSet : 1;
            UINT SetPreferredSegment : 1;
            UINT SetUnmoveable : 1;
            UINT Reserved : 28;
        };
        UINT PropertyMaskValue;
    };
} D3DDDI_UPDATEALLOCPROPERTY;

typedef enum _D3DDDI_RECLAIM_RESULT {
    D3DDDI_RECLAIM_RESULT_OK = 0,
    D3DDDI_RECLAIM_RESULT_DISCARDED = 1,
    D3DDDI_RECLAIM_RESULT_NOT_COMMITTED = 2,
} D3DDDI_RECLAIM_RESULT;

typedef struct _D3DDDI_SYNCHRONIZATIONOBJECTINFO {
    D3DDDI_SYNCHRONIZATIONOBJECT_TYPE Type;
    union {
        struct {
            BOOL InitialState;
        } SynchronizationMutex;
        struct {
            UINT MaxCount;
            UINT InitialCount;
        } Semaphore;
        struct {
            UINT Reserved[16];
        } Reserved;
    };
} D3DDDI_SYNCHRONIZATIONOBJECTINFO;

typedef struct _D3DDDI_SYNCHRONIZATIONOBJECT_FLAGS {
    union {
        struct {
            UINT Shared : 1;
            UINT NtSecuritySharing : 1;
            UINT CrossAdapter : 1;
            UINT TopOfPipeline : 1;
            UINT NoSignal : 1;
            UINT NoWait : 1;
            UINT NoSignalMaxValueOnTdr : 1;
            UINT NoGPUAccess : 1;
            UINT SignalByKmd : 1;
            UINT Unused : 1;
            UINT UnwaitCpuWaitersOnlyOnDestroy : 1;
            UINT Reserved : 20;
            UINT Reserved0 : 1;
        };
        UINT Value;
    };
} D3DDDI_SYNCHRONIZATIONOBJECT_FLAGS;

typedef struct _D3DDDI_SYNCHRONIZATIONOBJECTINFO2 {
    D3DDDI_SYNCHRONIZATIONOBJECT_TYPE Type;
    D3DDDI_SYNCHRONIZATIONOBJECT_FLAGS Flags;
    union {
        struct {
            BOOL InitialState;
        } SynchronizationMutex;
        struct {
            UINT MaxCount;
            UINT InitialCount;
        } Semaphore;
        struct {
            D3DKMT_ALIGN64 UINT64 FenceValue;
        } Fence;
        struct {
            D3DKMT_PTR(HANDLE, Event);
        } CPUNotification;
        struct {
            D3DKMT_ALIGN64 UINT64 InitialFenceValue;
            D3DKMT_PTR(VOID*, FenceValueCPUVirtualAddress);
            D3DKMT_ALIGN64 D3DGPU_VIRTUAL_ADDRESS FenceValueGPUVirtualAddress;
            UINT EngineAffinity;
            UINT Padding;
        } MonitoredFence;
        struct {
            D3DKMT_HANDLE hAdapter;
            D3DDDI_VIDEO_PRESENT_TARGET_ID VidPnTargetId;
            D3DKMT_ALIGN64 UINT64 Time;
            D3DKMT_PTR(VOID*, FenceValueCPUVirtualAddress);
            D3DKMT_ALIGN64 D3DGPU_VIRTUAL_ADDRESS FenceValueGPUVirtualAddress;
            UINT EngineAffinity;
            UINT Padding;
        } PeriodicMonitoredFence;
        struct {
            D3DKMT_ALIGN64 UINT64 Reserved[8];
        } Reserved;
    };
    D3DKMT_HANDLE SharedHandle;
} D3DDDI_SYNCHRONIZATIONOBJECTINFO2;

typedef struct _D3DDDI_WAITFORSYNCHRONIZATIONOBJECTFROMCPU_FLAGS {
    union {
        struct {
            UINT WaitAny : 1;
            UINT Reserved : 31;
        };
        UINT Value;
    };
} D3DDDI_WAITFORSYNCHRONIZATIONOBJECTFROMCPU_FLAGS;

/* ---------------------------------------------------------------------------------------------
 * d3dkmdt.h: the kernel-mode data types that D3DKMT queries return.
 * ------------------------------------------------------------------------------------------- */
typedef struct _D3DKMT_WDDM_1_3_CAPS {
    union {
        struct {
            UINT SupportMiracast : 1;
            UINT IsHybridIntegratedGPU : 1;
            UINT IsHybridDiscreteGPU : 1;
            UINT SupportPowerManagementPStates : 1;
            UINT SupportVirtualModes : 1;
            UINT SupportCrossAdapterResource : 1;
            UINT Reserved : 26;
        };
        UINT Value;
    };
} D3DKMT_WDDM_1_3_CAPS;

typedef struct _D3DKMT_WDDM_2_0_CAPS {
    union {
        struct {
            UINT Support64BitAtomics : 1;
            UINT GpuMmuSupported : 1;
            UINT IoMmuSupported : 1;
            UINT FlipOverwriteSupported : 1;
            UINT SupportContextlessPresent : 1;
            UINT SupportSurpriseRemoval : 1;
            UINT Reserved : 26;
        };
        UINT Value;
    };
} D3DKMT_WDDM_2_0_CAPS;

typedef struct _D3DKMT_WDDM_2_7_CAPS {
    union {
        struct {
            UINT HwSchSupported : 1;
            UINT HwSchEnabled : 1;
            UINT HwSchEnabledByDefault : 1;
            UINT IndependentVidPnVSyncControl : 1;
            UINT Reserved : 28;
        };
        UINT Value;
    };
} D3DKMT_WDDM_2_7_CAPS;

/* The clock calibration structs are byte-packed, as the Linux ioctl carries them (40 bytes; WSL
 * kernel include/uapi/misc/d3dkmthk.h, reference dxg.md section 3.23). */
#pragma pack(push, 1)
typedef struct _DXGK_GPUCLOCKDATA_FLAGS {
    union {
        struct {
            UINT ContextManagementProcessor : 1;
            UINT Reserved : 31;
        };
        UINT32 Value;
    };
} DXGK_GPUCLOCKDATA_FLAGS;

typedef struct _DXGK_GPUCLOCKDATA {
    ULONGLONG GpuFrequency;
    ULONGLONG GpuClockCounter;
    ULONGLONG CpuClockCounter;
    DXGK_GPUCLOCKDATA_FLAGS Flags;
} DXGK_GPUCLOCKDATA;

typedef struct _D3DKMT_QUERYCLOCKCALIBRATION {
    D3DKMT_HANDLE hAdapter;
    UINT32 NodeOrdinal;
    UINT32 PhysicalAdapterIndex;
    DXGK_GPUCLOCKDATA ClockData;
} D3DKMT_QUERYCLOCKCALIBRATION;
#pragma pack(pop)

/* ---------------------------------------------------------------------------------------------
 * d3dkmthk.h: devices, contexts, sync objects.
 * ------------------------------------------------------------------------------------------- */
typedef struct _D3DKMT_CREATEDEVICEFLAGS {
    UINT LegacyMode : 1;
    UINT RequestVSync : 1;
    UINT DisableGpuTimeout : 1;
    UINT Reserved : 29;
} D3DKMT_CREATEDEVICEFLAGS;

typedef struct _D3DKMT_CREATEDEVICE {
    union {
        D3DKMT_HANDLE hAdapter;
        VOID* pAdapter;
        D3DKMT_PTR_HELPER(pAdapter_Align)
    };
    D3DKMT_CREATEDEVICEFLAGS Flags;
    D3DKMT_HANDLE hDevice;
    D3DKMT_PTR(VOID*, pCommandBuffer);
    UINT CommandBufferSize;
    D3DKMT_PTR(D3DDDI_ALLOCATIONLIST*, pAllocationList);
    UINT AllocationListSize;
    D3DKMT_PTR(D3DDDI_PATCHLOCATIONLIST*, pPatchLocationList);
    UINT PatchLocationListSize;
} D3DKMT_CREATEDEVICE;

typedef struct _D3DKMT_DESTROYDEVICE {
    D3DKMT_HANDLE hDevice;
} D3DKMT_DESTROYDEVICE;

typedef enum _D3DKMT_CLIENTHINT {
    D3DKMT_CLIENTHINT_UNKNOWN = 0,
    D3DKMT_CLIENTHINT_OPENGL = 1,
    D3DKMT_CLIENTHINT_CDD = 2,
    D3DKMT_CLIENTHINT_OPENCL = 3,
    D3DKMT_CLIENTHINT_VULKAN = 4,
    D3DKMT_CLIENTHINT_CUDA = 5,
    D3DKMT_CLIENTHINT_RESERVED = 6,
    D3DKMT_CLIENTHINT_DX7 = 7,
    D3DKMT_CLIENTHINT_DX8 = 8,
    D3DKMT_CLIENTHINT_DX9 = 9,
    D3DKMT_CLIENTHINT_DX10 = 10,
    D3DKMT_CLIENTHINT_DX11 = 11,
    D3DKMT_CLIENTHINT_DX12 = 12,
    D3DKMT_CLIENTHINT_9ON12 = 13,
    D3DKMT_CLIENTHINT_11ON12 = 14,
    D3DKMT_CLIENTHINT_MFT_ENCODE = 15,
    D3DKMT_CLIENTHINT_GLON12 = 16,
    D3DKMT_CLIENTHINT_CLON12 = 17,
    D3DKMT_CLIENTHINT_DML_TENSORFLOW = 18,
    D3DKMT_CLIENTHINT_ONEAPI_LEVEL0 = 19,
    D3DKMT_CLIENTHINT_MAX
} D3DKMT_CLIENTHINT;

typedef struct _D3DKMT_CREATECONTEXT {
    D3DKMT_HANDLE hDevice;
    UINT NodeOrdinal;
    UINT EngineAffinity;
    D3DDDI_CREATECONTEXTFLAGS Flags;
    D3DKMT_PTR(VOID*, pPrivateDriverData);
    UINT PrivateDriverDataSize;
    D3DKMT_CLIENTHINT ClientHint;
    D3DKMT_HANDLE hContext;
    D3DKMT_PTR(VOID*, pCommandBuffer);
    UINT CommandBufferSize;
    D3DKMT_PTR(D3DDDI_ALLOCATIONLIST*, pAllocationList);
    UINT AllocationListSize;
    D3DKMT_PTR(D3DDDI_PATCHLOCATIONLIST*, pPatchLocationList);
    UINT PatchLocationListSize;
    D3DGPU_VIRTUAL_ADDRESS CommandBuffer;
} D3DKMT_CREATECONTEXT;

typedef struct _D3DKMT_DESTROYCONTEXT {
    D3DKMT_HANDLE hContext;
} D3DKMT_DESTROYCONTEXT;

typedef struct _D3DKMT_CREATESYNCHRONIZATIONOBJECT {
    D3DKMT_HANDLE hDevice;
    D3DDDI_SYNCHRONIZATIONOBJECTINFO Info;
    D3DKMT_HANDLE hSyncObject;
} D3DKMT_CREATESYNCHRONIZATIONOBJECT;

typedef struct _D3DKMT_CREATESYNCHRONIZATIONOBJECT2 {
    D3DKMT_HANDLE hDevice;
    D3DDDI_SYNCHRONIZATIONOBJECTINFO2 Info;
    D3DKMT_HANDLE hSyncObject;
} D3DKMT_CREATESYNCHRONIZATIONOBJECT2;

typedef struct _D3DKMT_DESTROYSYNCHRONIZATIONOBJECT {
    D3DKMT_HANDLE hSyncObject;
} D3DKMT_DESTROYSYNCHRONIZATIONOBJECT;

typedef struct _D3DKMT_OPENSYNCHRONIZATIONOBJECT {
    D3DKMT_HANDLE hSharedHandle;
    D3DKMT_HANDLE hSyncObject;
    D3DKMT_ALIGN64 UINT64 Reserved[8];
} D3DKMT_OPENSYNCHRONIZATIONOBJECT;

typedef struct _D3DKMT_WAITFORSYNCHRONIZATIONOBJECT {
    D3DKMT_HANDLE hContext;
    UINT ObjectCount;
    D3DKMT_HANDLE ObjectHandleArray[D3DDDI_MAX_OBJECT_WAITED_ON];
} D3DKMT_WAITFORSYNCHRONIZATIONOBJECT;

typedef struct _D3DKMT_WAITFORSYNCHRONIZATIONOBJECT2 {
    D3DKMT_HANDLE hContext;
    UINT ObjectCount;
    D3DKMT_HANDLE ObjectHandleArray[D3DDDI_MAX_OBJECT_WAITED_ON];
    union {
        struct {
            D3DKMT_ALIGN64 UINT64 FenceValue;
        } Fence;
        D3DKMT_ALIGN64 UINT64 Reserved[8];
    };
} D3DKMT_WAITFORSYNCHRONIZATIONOBJECT2;

typedef struct _D3DKMT_SIGNALSYNCHRONIZATIONOBJECT {
    D3DKMT_HANDLE hContext;
    UINT ObjectCount;
    D3DKMT_HANDLE ObjectHandleArray[D3DDDI_MAX_OBJECT_SIGNALED];
    D3DDDICB_SIGNALFLAGS Flags;
} D3DKMT_SIGNALSYNCHRONIZATIONOBJECT;

typedef struct _D3DKMT_SIGNALSYNCHRONIZATIONOBJECT2 {
    D3DKMT_HANDLE hContext;
    UINT ObjectCount;
    D3DKMT_HANDLE ObjectHandleArray[D3DDDI_MAX_OBJECT_SIGNALED];
    D3DDDICB_SIGNALFLAGS Flags;
    ULONG BroadcastContextCount;
    D3DKMT_HANDLE BroadcastContext[D3DDDI_MAX_BROADCAST_CONTEXT];
    union {
        struct {
            D3DKMT_ALIGN64 UINT64 FenceValue;
        } Fence;
        HANDLE CpuEventHandle;
        D3DKMT_ALIGN64 UINT64 Reserved[8];
    };
} D3DKMT_SIGNALSYNCHRONIZATIONOBJECT2;

typedef struct _D3DKMT_LOCK {
    D3DKMT_HANDLE hDevice;
    D3DKMT_HANDLE hAllocation;
    UINT PrivateDriverData;
    UINT NumPages;
    D3DKMT_PTR(CONST UINT*, pPages);
    D3DKMT_PTR(VOID*, pData);
    D3DDDICB_LOCKFLAGS Flags;
    D3DGPU_VIRTUAL_ADDRESS GpuVirtualAddress;
} D3DKMT_LOCK;

typedef struct _D3DKMT_UNLOCK {
    D3DKMT_HANDLE hDevice;
    UINT NumAllocations;
    D3DKMT_PTR(CONST D3DKMT_HANDLE*, phAllocations);
} D3DKMT_UNLOCK;

typedef struct _D3DKMT_MULTISAMPLEMETHOD {
    UINT NumSamples;
    UINT NumQualityLevels;
    UINT Reserved;
} D3DKMT_MULTISAMPLEMETHOD;

/* D3DDDIFORMAT: only the value the one signature here needs is named; any format is a UINT. */
typedef enum _D3DDDIFORMAT {
    D3DDDIFMT_UNKNOWN = 0,
    D3DDDIFMT_FORCE_UINT = 0x7fffffff
} D3DDDIFORMAT;

typedef struct _D3DKMT_GETMULTISAMPLEMETHODLIST {
    D3DKMT_HANDLE hAdapter;
    D3DDDI_VIDEO_PRESENT_SOURCE_ID VidPnSourceId;
    UINT Width;
    UINT Height;
    D3DDDIFORMAT Format;
    D3DKMT_PTR(D3DKMT_MULTISAMPLEMETHOD*, pMethodList);
    UINT MethodCount;
} D3DKMT_GETMULTISAMPLEMETHODLIST;

/* Presents are not supported (the calls answer STATUS_NOT_SUPPORTED, as in libdxg); their
 * argument structs are declared but not defined. */
typedef struct _D3DKMT_PRESENT D3DKMT_PRESENT;
typedef struct _D3DKMT_SUBMITPRESENTTOHWQUEUE D3DKMT_SUBMITPRESENTTOHWQUEUE;

typedef struct _D3DKMT_RENDERFLAGS {
    UINT ResizeCommandBuffer : 1;
    UINT ResizeAllocationList : 1;
    UINT ResizePatchLocationList : 1;
    UINT NullRendering : 1;
    UINT PresentRedirected : 1;
    UINT RenderKm : 1;
    UINT RenderKmReadback : 1;
    UINT Reserved : 25;
} D3DKMT_RENDERFLAGS;

typedef struct _D3DKMT_RENDER {
    union {
        D3DKMT_HANDLE hDevice;
        D3DKMT_HANDLE hContext;
    };
    UINT CommandOffset;
    UINT CommandLength;
    UINT AllocationCount;
    UINT PatchLocationCount;
    D3DKMT_PTR(VOID*, pNewCommandBuffer);
    UINT NewCommandBufferSize;
    D3DKMT_PTR(D3DDDI_ALLOCATIONLIST*, pNewAllocationList);
    UINT NewAllocationListSize;
    D3DKMT_PTR(D3DDDI_PATCHLOCATIONLIST*, pNewPatchLocationList);
    UINT NewPatchLocationListSize;
    D3DKMT_RENDERFLAGS Flags;
    D3DKMT_ALIGN64 ULONGLONG PresentHistoryToken;
    ULONG BroadcastContextCount;
    D3DKMT_HANDLE BroadcastContext[D3DDDI_MAX_BROADCAST_CONTEXT];
    ULONG QueuedBufferCount;
    D3DKMT_ALIGN64 D3DGPU_VIRTUAL_ADDRESS NewCommandBuffer;
    D3DKMT_PTR(VOID*, pPrivateDriverData);
    UINT PrivateDriverDataSize;
} D3DKMT_RENDER;

/* ---------------------------------------------------------------------------------------------
 * Allocations and resources.
 * ------------------------------------------------------------------------------------------- */
typedef enum _D3DKMT_STANDARDALLOCATIONTYPE {
    D3DKMT_STANDARDALLOCATIONTYPE_EXISTINGHEAP = 1,
    D3DKMT_STANDARDALLOCATIONTYPE_INTERNALBACKINGSTORE = 2,
    /* The name the WSL kernel's uapi header gives value 2. */
    D3DKMT_STANDARDALLOCATIONTYPE_CROSSADAPTER = 2,
    D3DKMT_STANDARDALLOCATIONTYPE_MAX = 3,
} D3DKMT_STANDARDALLOCATIONTYPE;

typedef struct _D3DKMT_STANDARDALLOCATION_EXISTINGHEAP {
    D3DKMT_ALIGN64 D3DKMT_SIZE_T Size;
} D3DKMT_STANDARDALLOCATION_EXISTINGHEAP;

typedef struct _D3DKMT_CREATESTANDARDALLOCATIONFLAGS {
    union {
        struct {
            UINT Reserved : 32;
        };
        UINT Value;
    };
} D3DKMT_CREATESTANDARDALLOCATIONFLAGS;

typedef struct _D3DKMT_CREATESTANDARDALLOCATION {
    D3DKMT_STANDARDALLOCATIONTYPE Type;
    union {
        D3DKMT_STANDARDALLOCATION_EXISTINGHEAP ExistingHeapData;
    };
    D3DKMT_CREATESTANDARDALLOCATIONFLAGS Flags;
} D3DKMT_CREATESTANDARDALLOCATION;

typedef struct _D3DKMT_CREATEALLOCATIONFLAGS {
    UINT CreateResource : 1;
    UINT CreateShared : 1;
    UINT NonSecure : 1;
    UINT CreateProtected : 1;
    UINT RestrictSharedAccess : 1;
    UINT ExistingSysMem : 1;
    UINT NtSecuritySharing : 1;
    UINT ReadOnly : 1;
    UINT CreateWriteCombined : 1;
    UINT CreateCached : 1;
    UINT SwapChainBackBuffer : 1;
    UINT CrossAdapter : 1;
    UINT OpenCrossAdapter : 1;
    UINT PartialSharedCreation : 1;
    UINT Zeroed : 1;
    UINT WriteWatch : 1;
    UINT StandardAllocation : 1;
    UINT ExistingSection : 1;
    UINT AllowNotZeroed : 1;
    UINT PhysicallyContiguous : 1;
    UINT NoKmdAccess : 1;
    UINT SharedDisplayable : 1;
    UINT Reserved : 10;
} D3DKMT_CREATEALLOCATIONFLAGS;

typedef struct _D3DKMT_CREATEALLOCATION {
    D3DKMT_HANDLE hDevice;
    D3DKMT_HANDLE hResource;
    D3DKMT_HANDLE hGlobalShare;
    D3DKMT_PTR(CONST VOID*, pPrivateRuntimeData);
    UINT PrivateRuntimeDataSize;
    union {
        D3DKMT_CREATESTANDARDALLOCATION* pStandardAllocation;
        CONST VOID* pPrivateDriverData;
        D3DKMT_PTR_HELPER(AlignUnionTo64_1)
    };
    UINT PrivateDriverDataSize;
    UINT NumAllocations;
    union {
        D3DDDI_ALLOCATIONINFO* pAllocationInfo;
        D3DDDI_ALLOCATIONINFO2* pAllocationInfo2;
        D3DKMT_PTR_HELPER(AlignUnionTo64_2)
    };
    D3DKMT_CREATEALLOCATIONFLAGS Flags;
    D3DKMT_PTR(HANDLE, hPrivateRuntimeResourceHandle);
} D3DKMT_CREATEALLOCATION;

typedef struct _D3DKMT_OPENRESOURCE {
    D3DKMT_HANDLE hDevice;
    D3DKMT_HANDLE hGlobalShare;
    UINT NumAllocations;
    union {
        D3DDDI_OPENALLOCATIONINFO* pOpenAllocationInfo;
        D3DDDI_OPENALLOCATIONINFO2* pOpenAllocationInfo2;
        D3DKMT_PTR_HELPER(AlignUnionTo64)
    };
    D3DKMT_PTR(VOID*, pPrivateRuntimeData);
    UINT PrivateRuntimeDataSize;
    D3DKMT_PTR(VOID*, pResourcePrivateDriverData);
    UINT ResourcePrivateDriverDataSize;
    D3DKMT_PTR(VOID*, pTotalPrivateDriverDataBuffer);
    UINT TotalPrivateDriverDataBufferSize;
    D3DKMT_HANDLE hResource;
} D3DKMT_OPENRESOURCE;

typedef struct _D3DKMT_OPENRESOURCEFROMNTHANDLE {
    D3DKMT_HANDLE hDevice;
    D3DKMT_PTR(HANDLE, hNtHandle);
    UINT NumAllocations;
    D3DKMT_PTR(D3DDDI_OPENALLOCATIONINFO2*, pOpenAllocationInfo2);
    UINT PrivateRuntimeDataSize;
    D3DKMT_PTR(VOID*, pPrivateRuntimeData);
    UINT ResourcePrivateDriverDataSize;
    D3DKMT_PTR(VOID*, pResourcePrivateDriverData);
    UINT TotalPrivateDriverDataBufferSize;
    D3DKMT_PTR(VOID*, pTotalPrivateDriverDataBuffer);
    D3DKMT_HANDLE hResource;
    D3DKMT_HANDLE hKeyedMutex;
    D3DKMT_PTR(VOID*, pKeyedMutexPrivateRuntimeData);
    UINT KeyedMutexPrivateRuntimeDataSize;
    D3DKMT_HANDLE hSyncObject;
} D3DKMT_OPENRESOURCEFROMNTHANDLE;

typedef struct _D3DKMT_OPENSYNCOBJECTFROMNTHANDLE {
    D3DKMT_PTR(HANDLE, hNtHandle);
    D3DKMT_HANDLE hSyncObject;
} D3DKMT_OPENSYNCOBJECTFROMNTHANDLE;

typedef struct _D3DKMT_OPENSYNCOBJECTFROMNTHANDLE2 {
    D3DKMT_PTR(HANDLE, hNtHandle);
    D3DKMT_HANDLE hDevice;
    D3DDDI_SYNCHRONIZATIONOBJECT_FLAGS Flags;
    D3DKMT_HANDLE hSyncObject;
    union {
        struct {
            D3DKMT_PTR(VOID*, FenceValueCPUVirtualAddress);
            D3DKMT_ALIGN64 D3DGPU_VIRTUAL_ADDRESS FenceValueGPUVirtualAddress;
            UINT EngineAffinity;
        } MonitoredFence;
        D3DKMT_ALIGN64 UINT64 Reserved[8];
    };
} D3DKMT_OPENSYNCOBJECTFROMNTHANDLE2;

typedef struct _D3DKMT_OPENSYNCOBJECTNTHANDLEFROMNAME {
    DWORD dwDesiredAccess;
    D3DKMT_PTR(OBJECT_ATTRIBUTES*, pObjAttrib);
    D3DKMT_PTR(HANDLE, hNtHandle);
} D3DKMT_OPENSYNCOBJECTNTHANDLEFROMNAME;

typedef struct _D3DKMT_OPENNTHANDLEFROMNAME {
    DWORD dwDesiredAccess;
    D3DKMT_PTR(OBJECT_ATTRIBUTES*, pObjAttrib);
    D3DKMT_PTR(HANDLE, hNtHandle);
} D3DKMT_OPENNTHANDLEFROMNAME;

typedef struct _D3DKMT_QUERYRESOURCEINFOFROMNTHANDLE {
    D3DKMT_HANDLE hDevice;
    D3DKMT_PTR(HANDLE, hNtHandle);
    D3DKMT_PTR(VOID*, pPrivateRuntimeData);
    UINT PrivateRuntimeDataSize;
    UINT TotalPrivateDriverDataSize;
    UINT ResourcePrivateDriverDataSize;
    UINT NumAllocations;
} D3DKMT_QUERYRESOURCEINFOFROMNTHANDLE;

typedef struct _D3DKMT_QUERYRESOURCEINFO {
    D3DKMT_HANDLE hDevice;
    D3DKMT_HANDLE hGlobalShare;
    D3DKMT_PTR(VOID*, pPrivateRuntimeData);
    UINT PrivateRuntimeDataSize;
    UINT TotalPrivateDriverDataSize;
    UINT ResourcePrivateDriverDataSize;
    UINT NumAllocations;
} D3DKMT_QUERYRESOURCEINFO;

typedef struct _D3DKMT_DESTROYALLOCATION {
    D3DKMT_HANDLE hDevice;
    D3DKMT_HANDLE hResource;
    D3DKMT_PTR(CONST D3DKMT_HANDLE*, phAllocationList);
    UINT AllocationCount;
} D3DKMT_DESTROYALLOCATION;

typedef struct _D3DKMT_DESTROYALLOCATION2 {
    D3DKMT_HANDLE hDevice;
    D3DKMT_HANDLE hResource;
    D3DKMT_PTR(CONST D3DKMT_HANDLE*, phAllocationList);
    UINT AllocationCount;
    D3DDDICB_DESTROYALLOCATION2FLAGS Flags;
} D3DKMT_DESTROYALLOCATION2;

typedef struct _D3DKMT_SETALLOCATIONPRIORITY {
    D3DKMT_HANDLE hDevice;
    D3DKMT_HANDLE hResource;
    D3DKMT_PTR(CONST D3DKMT_HANDLE*, phAllocationList);
    UINT AllocationCount;
    D3DKMT_PTR(CONST UINT*, pPriorities);
} D3DKMT_SETALLOCATIONPRIORITY;

typedef enum _D3DKMT_ALLOCATIONRESIDENCYSTATUS {
    D3DKMT_ALLOCATIONRESIDENCYSTATUS_RESIDENTINGPUMEMORY = 1,
    D3DKMT_ALLOCATIONRESIDENCYSTATUS_RESIDENTINSHAREDMEMORY = 2,
    D3DKMT_ALLOCATIONRESIDENCYSTATUS_NOTRESIDENT = 3,
} D3DKMT_ALLOCATIONRESIDENCYSTATUS;

typedef struct _D3DKMT_QUERYALLOCATIONRESIDENCY {
    D3DKMT_HANDLE hDevice;
    D3DKMT_HANDLE hResource;
    D3DKMT_PTR(CONST D3DKMT_HANDLE*, phAllocationList);
    UINT AllocationCount;
    D3DKMT_PTR(D3DKMT_ALLOCATIONRESIDENCYSTATUS*, pResidencyStatus);
} D3DKMT_QUERYALLOCATIONRESIDENCY;

/* ---------------------------------------------------------------------------------------------
 * Adapters: enumeration, opening, D3DKMTQueryAdapterInfo and its result structs.
 * ------------------------------------------------------------------------------------------- */
typedef enum _KMTUMDVERSION {
    KMTUMDVERSION_DX9 = 0,
    KMTUMDVERSION_DX10,
    KMTUMDVERSION_DX11,
    KMTUMDVERSION_DX12,
    NUM_KMTUMDVERSIONS
} KMTUMDVERSION;

typedef struct _D3DKMT_UMDFILENAMEINFO {
    KMTUMDVERSION Version;
    WCHAR UmdFileName[MAX_PATH];
} D3DKMT_UMDFILENAMEINFO;

typedef struct _D3DKMT_OPENGLINFO {
    WCHAR UmdOpenGlIcdFileName[MAX_PATH];
    ULONG Version;
    ULONG Flags;
} D3DKMT_OPENGLINFO;

typedef struct _D3DKMT_SEGMENTSIZEINFO {
    D3DKMT_ALIGN64 ULONGLONG DedicatedVideoMemorySize;
    D3DKMT_ALIGN64 ULONGLONG DedicatedSystemMemorySize;
    D3DKMT_ALIGN64 ULONGLONG SharedSystemMemorySize;
} D3DKMT_SEGMENTSIZEINFO;

typedef struct _D3DKMT_SEGMENTGROUPSIZEINFO {
    UINT32 PhysicalAdapterIndex;
    D3DKMT_SEGMENTSIZEINFO LegacyInfo;
    D3DKMT_ALIGN64 ULONGLONG LocalMemory;
    D3DKMT_ALIGN64 ULONGLONG NonLocalMemory;
    D3DKMT_ALIGN64 ULONGLONG NonBudgetMemory;
} D3DKMT_SEGMENTGROUPSIZEINFO;

typedef struct _D3DKMT_FLIPINFOFLAGS {
    UINT FlipInterval : 1;
    UINT Reserved : 31;
} D3DKMT_FLIPINFOFLAGS;

typedef struct _D3DKMT_FLIPQUEUEINFO {
    UINT MaxHardwareFlipQueueLength;
    UINT MaxSoftwareFlipQueueLength;
    D3DKMT_FLIPINFOFLAGS FlipFlags;
} D3DKMT_FLIPQUEUEINFO;

typedef struct _D3DKMT_ADAPTERADDRESS {
    UINT BusNumber;
    UINT DeviceNumber;
    UINT FunctionNumber;
} D3DKMT_ADAPTERADDRESS;

typedef struct _D3DKMT_ADAPTERREGISTRYINFO {
    WCHAR AdapterString[MAX_PATH];
    WCHAR BiosString[MAX_PATH];
    WCHAR DacType[MAX_PATH];
    WCHAR ChipType[MAX_PATH];
} D3DKMT_ADAPTERREGISTRYINFO;

typedef struct _D3DKMT_VIRTUALADDRESSFLAGS {
    UINT VirtualAddressSupported : 1;
    UINT Reserved : 31;
} D3DKMT_VIRTUALADDRESSFLAGS;

typedef struct _D3DKMT_VIRTUALADDRESSINFO {
    D3DKMT_VIRTUALADDRESSFLAGS VirtualAddressFlags;
} D3DKMT_VIRTUALADDRESSINFO;

typedef enum _QAI_DRIVERVERSION {
    KMT_DRIVERVERSION_WDDM_1_0 = 1000,
    KMT_DRIVERVERSION_WDDM_1_1_PRERELEASE = 1102,
    KMT_DRIVERVERSION_WDDM_1_1 = 1105,
    KMT_DRIVERVERSION_WDDM_1_2 = 1200,
    KMT_DRIVERVERSION_WDDM_1_3 = 1300,
    KMT_DRIVERVERSION_WDDM_2_0 = 2000,
    KMT_DRIVERVERSION_WDDM_2_1 = 2100,
    KMT_DRIVERVERSION_WDDM_2_2 = 2200,
    KMT_DRIVERVERSION_WDDM_2_3 = 2300,
    KMT_DRIVERVERSION_WDDM_2_4 = 2400,
    KMT_DRIVERVERSION_WDDM_2_5 = 2500,
    KMT_DRIVERVERSION_WDDM_2_6 = 2600,
    KMT_DRIVERVERSION_WDDM_2_7 = 2700,
    KMT_DRIVERVERSION_WDDM_2_8 = 2800,
    KMT_DRIVERVERSION_WDDM_2_9 = 2900,
    KMT_DRIVERVERSION_WDDM_3_0 = 3000
} D3DKMT_DRIVERVERSION;

typedef struct _D3DKMT_ADAPTERTYPE {
    union {
        struct {
            UINT RenderSupported : 1;
            UINT DisplaySupported : 1;
            UINT SoftwareDevice : 1;
            UINT PostDevice : 1;
            UINT HybridDiscrete : 1;
            UINT HybridIntegrated : 1;
            UINT IndirectDisplayDevice : 1;
            UINT Paravirtualized : 1;
            UINT ACGSupported : 1;
            UINT SupportSetTimingsFromVidPn : 1;
            UINT Detachable : 1;
            UINT ComputeOnly : 1;
            UINT Prototype : 1;
            UINT RuntimePowerManagement : 1;
            UINT Reserved : 18;
        };
        UINT Value;
    };
} D3DKMT_ADAPTERTYPE;

typedef struct _D3DKMT_UMD_DRIVER_VERSION {
    D3DKMT_ALIGN64 LARGE_INTEGER DriverVersion;
} D3DKMT_UMD_DRIVER_VERSION;

typedef struct _D3DKMT_KMD_DRIVER_VERSION {
    D3DKMT_ALIGN64 LARGE_INTEGER DriverVersion;
} D3DKMT_KMD_DRIVER_VERSION;

typedef struct _D3DKMT_DIRECTFLIP_SUPPORT {
    BOOL Supported;
} D3DKMT_DIRECTFLIP_SUPPORT;

typedef struct _D3DKMT_MULTIPLANEOVERLAY_SUPPORT {
    BOOL Supported;
} D3DKMT_MULTIPLANEOVERLAY_SUPPORT;

typedef struct _D3DKMT_XBOX {
    BOOL IsXBOX;
} D3DKMT_XBOX;

typedef struct _D3DKMT_INDEPENDENTFLIP_SUPPORT {
    BOOL Supported;
} D3DKMT_INDEPENDENTFLIP_SUPPORT;

typedef struct _D3DKMT_PHYSICAL_ADAPTER_COUNT {
    UINT Count;
} D3DKMT_PHYSICAL_ADAPTER_COUNT;

typedef struct _D3DKMT_DEVICE_IDS {
    UINT VendorID;
    UINT DeviceID;
    UINT SubVendorID;
    UINT SubSystemID;
    UINT RevisionID;
    UINT BusType;
} D3DKMT_DEVICE_IDS;

typedef struct _D3DKMT_QUERY_DEVICE_IDS {
    UINT PhysicalAdapterIndex;
    D3DKMT_DEVICE_IDS DeviceIds;
} D3DKMT_QUERY_DEVICE_IDS;

typedef struct _D3DKMT_GPUMMU_CAPS {
    union {
        struct {
            UINT ReadOnlyMemorySupported : 1;
            UINT NoExecuteMemorySupported : 1;
            UINT CacheCoherentMemorySupported : 1;
            UINT Reserved : 29;
        };
        UINT Value;
    } Flags;
    UINT VirtualAddressBitCount;
} D3DKMT_GPUMMU_CAPS;

typedef struct _D3DKMT_QUERY_GPUMMU_CAPS {
    UINT PhysicalAdapterIndex;
    D3DKMT_GPUMMU_CAPS Caps;
} D3DKMT_QUERY_GPUMMU_CAPS;

typedef struct _D3DKMT_HWDRM_SUPPORT {
    BOOLEAN Supported;
} D3DKMT_HWDRM_SUPPORT;

typedef struct _D3DKMT_QUERY_ADAPTER_UNIQUE_GUID {
    WCHAR AdapterUniqueGUID[40];
} D3DKMT_QUERY_ADAPTER_UNIQUE_GUID;

typedef struct _D3DKMT_NODE_PERFDATA {
    UINT32 NodeOrdinal;
    UINT32 PhysicalAdapterIndex;
    D3DKMT_ALIGN64 ULONGLONG Frequency;
    D3DKMT_ALIGN64 ULONGLONG MaxFrequency;
    D3DKMT_ALIGN64 ULONGLONG MaxFrequencyOC;
    ULONG Voltage;
    ULONG VoltageMax;
    ULONG VoltageMaxOC;
    D3DKMT_ALIGN64 ULONGLONG MaxTransitionLatency;
} D3DKMT_NODE_PERFDATA;

typedef struct _D3DKMT_ADAPTER_PERFDATA {
    UINT32 PhysicalAdapterIndex;
    D3DKMT_ALIGN64 ULONGLONG MemoryFrequency;
    D3DKMT_ALIGN64 ULONGLONG MaxMemoryFrequency;
    D3DKMT_ALIGN64 ULONGLONG MaxMemoryFrequencyOC;
    D3DKMT_ALIGN64 ULONGLONG MemoryBandwidth;
    D3DKMT_ALIGN64 ULONGLONG PCIEBandwidth;
    ULONG FanRPM;
    ULONG Power;
    ULONG Temperature;
    UCHAR PowerStateOverride;
} D3DKMT_ADAPTER_PERFDATA;

typedef struct _D3DKMT_ADAPTER_PERFDATACAPS {
    UINT32 PhysicalAdapterIndex;
    D3DKMT_ALIGN64 ULONGLONG MaxMemoryBandwidth;
    D3DKMT_ALIGN64 ULONGLONG MaxPCIEBandwidth;
    ULONG MaxFanRPM;
    ULONG TemperatureMax;
    ULONG TemperatureWarning;
} D3DKMT_ADAPTER_PERFDATACAPS;

#define DXGK_MAX_GPUVERSION_NAME_LENGTH 32
typedef struct _D3DKMT_GPUVERSION {
    UINT32 PhysicalAdapterIndex;
    WCHAR BiosVersion[DXGK_MAX_GPUVERSION_NAME_LENGTH];
    WCHAR GpuArchitecture[DXGK_MAX_GPUVERSION_NAME_LENGTH];
} D3DKMT_GPUVERSION;

typedef struct _D3DKMT_DRIVER_DESCRIPTION {
    WCHAR DriverDescription[4096];
} D3DKMT_DRIVER_DESCRIPTION;

typedef struct _D3DKMT_QUERY_SCANOUT_CAPS {
    D3DDDI_VIDEO_PRESENT_SOURCE_ID VidPnSourceId;
    UINT Caps;
} D3DKMT_QUERY_SCANOUT_CAPS;

typedef struct _D3DKMT_PARAVIRTUALIZATION {
    BOOLEAN SecureContainer;
} D3DKMT_PARAVIRTUALIZATION;

typedef struct _D3DKMT_HYBRID_DLIST_DLL_SUPPORT {
    BOOL Supported;
} D3DKMT_HYBRID_DLIST_DLL_SUPPORT;

typedef enum _D3DKMT_CROSSADAPTERRESOURCE_SUPPORT_TIER {
    D3DKMT_CROSSADAPTERRESOURCE_SUPPORT_TIER_NONE = 0,
    D3DKMT_CROSSADAPTERRESOURCE_SUPPORT_TIER_COPY = 1,
    D3DKMT_CROSSADAPTERRESOURCE_SUPPORT_TIER_TEXTURE = 2,
    D3DKMT_CROSSADAPTERRESOURCE_SUPPORT_TIER_SCANOUT = 3,
} D3DKMT_CROSSADAPTERRESOURCE_SUPPORT_TIER;

typedef struct _D3DKMT_CROSSADAPTERRESOURCE_SUPPORT {
    D3DKMT_CROSSADAPTERRESOURCE_SUPPORT_TIER SupportTier;
} D3DKMT_CROSSADAPTERRESOURCE_SUPPORT;

typedef enum _KMTQUERYADAPTERINFOTYPE {
    KMTQAITYPE_UMDRIVERPRIVATE = 0,
    KMTQAITYPE_UMDRIVERNAME = 1,
    KMTQAITYPE_UMOPENGLINFO = 2,
    KMTQAITYPE_GETSEGMENTSIZE = 3,
    KMTQAITYPE_ADAPTERGUID = 4,
    KMTQAITYPE_FLIPQUEUEINFO = 5,
    KMTQAITYPE_ADAPTERADDRESS = 6,
    KMTQAITYPE_SETWORKINGSETINFO = 7,
    KMTQAITYPE_ADAPTERREGISTRYINFO = 8,
    KMTQAITYPE_CURRENTDISPLAYMODE = 9,
    KMTQAITYPE_MODELIST = 10,
    KMTQAITYPE_CHECKDRIVERUPDATESTATUS = 11,
    KMTQAITYPE_VIRTUALADDRESSINFO = 12,
    KMTQAITYPE_DRIVERVERSION = 13,
    KMTQAITYPE_ADAPTERTYPE = 15,
    KMTQAITYPE_OUTPUTDUPLCONTEXTSCOUNT = 16,
    KMTQAITYPE_WDDM_1_2_CAPS = 17,
    KMTQAITYPE_UMD_DRIVER_VERSION = 18,
    KMTQAITYPE_DIRECTFLIP_SUPPORT = 19,
    KMTQAITYPE_MULTIPLANEOVERLAY_SUPPORT = 20,
    KMTQAITYPE_DLIST_DRIVER_NAME = 21,
    KMTQAITYPE_WDDM_1_3_CAPS = 22,
    KMTQAITYPE_MULTIPLANEOVERLAY_HUD_SUPPORT = 23,
    KMTQAITYPE_WDDM_2_0_CAPS = 24,
    KMTQAITYPE_NODEMETADATA = 25,
    KMTQAITYPE_CPDRIVERNAME = 26,
    KMTQAITYPE_XBOX = 27,
    KMTQAITYPE_INDEPENDENTFLIP_SUPPORT = 28,
    KMTQAITYPE_MIRACASTCOMPANIONDRIVERNAME = 29,
    KMTQAITYPE_PHYSICALADAPTERCOUNT = 30,
    KMTQAITYPE_PHYSICALADAPTERDEVICEIDS = 31,
    KMTQAITYPE_DRIVERCAPS_EXT = 32,
    KMTQAITYPE_QUERY_MIRACAST_DRIVER_TYPE = 33,
    KMTQAITYPE_QUERY_GPUMMU_CAPS = 34,
    KMTQAITYPE_QUERY_MULTIPLANEOVERLAY_DECODE_SUPPORT = 35,
    KMTQAITYPE_QUERY_HW_PROTECTION_TEARDOWN_COUNT = 36,
    KMTQAITYPE_QUERY_ISBADDRIVERFORHWPROTECTIONDISABLED = 37,
    KMTQAITYPE_MULTIPLANEOVERLAY_SECONDARY_SUPPORT = 38,
    KMTQAITYPE_INDEPENDENTFLIP_SECONDARY_SUPPORT = 39,
    KMTQAITYPE_PANELFITTER_SUPPORT = 40,
    KMTQAITYPE_PHYSICALADAPTERPNPKEY = 41,
    KMTQAITYPE_GETSEGMENTGROUPSIZE = 42,
    KMTQAITYPE_MPO3DDI_SUPPORT = 43,
    KMTQAITYPE_HWDRM_SUPPORT = 44,
    KMTQAITYPE_MPOKERNELCAPS_SUPPORT = 45,
    KMTQAITYPE_MULTIPLANEOVERLAY_STRETCH_SUPPORT = 46,
    KMTQAITYPE_GET_DEVICE_VIDPN_OWNERSHIP_INFO = 47,
    KMTQAITYPE_QUERYREGISTRY = 48,
    KMTQAITYPE_KMD_DRIVER_VERSION = 49,
    KMTQAITYPE_BLOCKLIST_KERNEL = 50,
    KMTQAITYPE_BLOCKLIST_RUNTIME = 51,
    KMTQAITYPE_ADAPTERGUID_RENDER = 52,
    KMTQAITYPE_ADAPTERADDRESS_RENDER = 53,
    KMTQAITYPE_ADAPTERREGISTRYINFO_RENDER = 54,
    KMTQAITYPE_CHECKDRIVERUPDATESTATUS_RENDER = 55,
    KMTQAITYPE_DRIVERVERSION_RENDER = 56,
    KMTQAITYPE_ADAPTERTYPE_RENDER = 57,
    KMTQAITYPE_WDDM_1_2_CAPS_RENDER = 58,
    KMTQAITYPE_WDDM_1_3_CAPS_RENDER = 59,
    KMTQAITYPE_QUERY_ADAPTER_UNIQUE_GUID = 60,
    KMTQAITYPE_NODEPERFDATA = 61,
    KMTQAITYPE_ADAPTERPERFDATA = 62,
    KMTQAITYPE_ADAPTERPERFDATA_CAPS = 63,
    KMTQUITYPE_GPUVERSION = 64,
    KMTQAITYPE_DRIVER_DESCRIPTION = 65,
    KMTQAITYPE_DRIVER_DESCRIPTION_RENDER = 66,
    KMTQAITYPE_SCANOUT_CAPS = 67,
    KMTQAITYPE_DISPLAY_UMDRIVERNAME = 71,
    KMTQAITYPE_PARAVIRTUALIZATION_RENDER = 68,
    KMTQAITYPE_SERVICENAME = 69,
    KMTQAITYPE_WDDM_2_7_CAPS = 70,
    KMTQAITYPE_TRACKEDWORKLOAD_SUPPORT = 72,
    KMTQAITYPE_HYBRID_DLIST_DLL_SUPPORT = 73,
    KMTQAITYPE_DISPLAY_CAPS = 74,
    KMTQAITYPE_WDDM_2_9_CAPS = 75,
    KMTQAITYPE_CROSSADAPTERRESOURCE_SUPPORT = 76,
    KMTQAITYPE_WDDM_3_0_CAPS = 77,
} KMTQUERYADAPTERINFOTYPE;

typedef struct _D3DKMT_QUERYADAPTERINFO {
    D3DKMT_HANDLE hAdapter;
    KMTQUERYADAPTERINFOTYPE Type;
    D3DKMT_PTR(VOID*, pPrivateDriverData);
    UINT PrivateDriverDataSize;
} D3DKMT_QUERYADAPTERINFO;

#define MAX_ENUM_ADAPTERS 16

typedef struct _D3DKMT_ADAPTERINFO {
    D3DKMT_HANDLE hAdapter;
    LUID AdapterLuid;
    ULONG NumOfSources;
    BOOL bPrecisePresentRegionsPreferred;
} D3DKMT_ADAPTERINFO;

typedef struct _D3DKMT_ENUMADAPTERS2 {
    ULONG NumAdapters;
    D3DKMT_PTR(D3DKMT_ADAPTERINFO*, pAdapters);
} D3DKMT_ENUMADAPTERS2;

typedef struct _D3DKMT_OPENADAPTERFROMLUID {
    LUID AdapterLuid;
    D3DKMT_HANDLE hAdapter;
} D3DKMT_OPENADAPTERFROMLUID;

typedef union _D3DKMT_ENUMADAPTERS_FILTER {
    struct {
        ULONGLONG IncludeComputeOnly : 1;
        ULONGLONG IncludeDisplayOnly : 1;
        ULONGLONG Reserved : 62;
    };
    D3DKMT_ALIGN64 ULONGLONG Value;
} D3DKMT_ENUMADAPTERS_FILTER;

typedef struct _D3DKMT_ENUMADAPTERS3 {
    D3DKMT_ENUMADAPTERS_FILTER Filter;
    ULONG NumAdapters;
    D3DKMT_PTR(D3DKMT_ADAPTERINFO*, pAdapters);
} D3DKMT_ENUMADAPTERS3;

typedef struct _D3DKMT_CLOSEADAPTER {
    D3DKMT_HANDLE hAdapter;
} D3DKMT_CLOSEADAPTER;

typedef union _D3DKMT_PINRESOURCEFLAGS {
    struct {
        UINT DirectFlipResources : 1;
        UINT Reserved : 31;
    };
    UINT Value;
} D3DKMT_PINRESOURCEFLAGS;

typedef struct _D3DKMT_PINRESOURCES {
    D3DKMT_HANDLE hDevice;
    UINT ResourceCount;
    D3DKMT_PTR(D3DKMT_HANDLE*, pResourceList);
    D3DKMT_PINRESOURCEFLAGS Flags;
    D3DKMT_HANDLE hPagingQueue;
    D3DKMT_ALIGN64 UINT64 PagingFence;
} D3DKMT_PINRESOURCES;

typedef struct _D3DKMT_UNPINRESOURCES {
    D3DKMT_HANDLE hDevice;
    UINT ResourceCount;
    D3DKMT_PTR(D3DKMT_HANDLE*, pResourceList);
    UINT Reserved;
} D3DKMT_UNPINRESOURCES;

/* ---------------------------------------------------------------------------------------------
 * Escapes.
 * ------------------------------------------------------------------------------------------- */
typedef enum _D3DKMT_ESCAPETYPE {
    D3DKMT_ESCAPE_DRIVERPRIVATE = 0,
    D3DKMT_ESCAPE_VIDMM = 1,
    D3DKMT_ESCAPE_TDRDBGCTRL = 2,
    D3DKMT_ESCAPE_VIDSCH = 3,
    D3DKMT_ESCAPE_DEVICE = 4,
    D3DKMT_ESCAPE_DMM = 5,
    D3DKMT_ESCAPE_DEBUG_SNAPSHOT = 6,
    D3DKMT_ESCAPE_DRT_TEST = 8,
    D3DKMT_ESCAPE_DIAGNOSTICS = 9,
    D3DKMT_ESCAPE_OUTPUTDUPL_SNAPSHOT = 10,
    D3DKMT_ESCAPE_OUTPUTDUPL_DIAGNOSTICS = 11,
    D3DKMT_ESCAPE_BDD_PNP = 12,
    D3DKMT_ESCAPE_BDD_FALLBACK = 13,
    D3DKMT_ESCAPE_ACTIVATE_SPECIFIC_DIAG = 14,
    D3DKMT_ESCAPE_MODES_PRUNED_OUT = 15,
    D3DKMT_ESCAPE_WHQL_INFO = 16,
    D3DKMT_ESCAPE_BRIGHTNESS = 17,
    D3DKMT_ESCAPE_EDID_CACHE = 18,
    D3DKMT_ESCAPE_MIRACAST_DISPLAY_REQUEST = 20,
    D3DKMT_ESCAPE_HISTORY_BUFFER_STATUS = 21,
    D3DKMT_ESCAPE_MIRACAST_ADAPTER_DIAG_INFO = 23,
    D3DKMT_ESCAPE_FORCE_BDDFALLBACK_HEADLESS = 24,
    D3DKMT_ESCAPE_REQUEST_MACHINE_CRASH = 25,
    D3DKMT_ESCAPE_SOFTGPU_ENABLE_DISABLE_HMD = 27,
    D3DKMT_ESCAPE_PROCESS_VERIFIER_OPTION = 28,
    D3DKMT_ESCAPE_ADAPTER_VERIFIER_OPTION = 29,
    D3DKMT_ESCAPE_IDD_REQUEST = 30,
    D3DKMT_ESCAPE_DOD_SET_DIRTYRECT_MODE = 31,
    D3DKMT_ESCAPE_LOG_CODEPOINT_PACKET = 32,
    D3DKMT_ESCAPE_LOG_USERMODE_DAIG_PACKET = 33,
    D3DKMT_ESCAPE_GET_EXTERNAL_DIAGNOSTICS = 34,
    D3DKMT_ESCAPE_GET_DISPLAY_CONFIGURATIONS = 36,
    D3DKMT_ESCAPE_QUERY_IOMMU_STATUS = 37,
    D3DKMT_ESCAPE_CCD_DATABASE = 38,
    D3DKMT_ESCAPE_QUERY_DMA_REMAPPING_STATUS = 39,
    D3DKMT_ESCAPE_WIN32K_START = 1024,
    D3DKMT_ESCAPE_WIN32K_HIP_DEVICE_INFO = 1024,
    D3DKMT_ESCAPE_WIN32K_QUERY_CD_ROTATION_BLOCK = 1025,
    D3DKMT_ESCAPE_WIN32K_DPI_INFO = 1026,
    D3DKMT_ESCAPE_WIN32K_PRESENTER_VIEW_INFO = 1027,
    D3DKMT_ESCAPE_WIN32K_SYSTEM_DPI = 1028,
    D3DKMT_ESCAPE_WIN32K_BDD_FALLBACK = 1029,
    D3DKMT_ESCAPE_WIN32K_DDA_TEST_CTL = 1030,
    D3DKMT_ESCAPE_WIN32K_USER_DETECTED_BLACK_SCREEN = 1031,
    D3DKMT_ESCAPE_WIN32K_DISPBROKER_TEST = 1035,
    D3DKMT_ESCAPE_WIN32K_COLOR_PROFILE_INFO = 1036,
    D3DKMT_ESCAPE_WIN32K_SET_DIMMED_STATE = 1037,
    D3DKMT_ESCAPE_WIN32K_SPECIALIZED_DISPLAY_TEST = 1038,
} D3DKMT_ESCAPETYPE;

typedef struct _D3DKMT_ESCAPE {
    D3DKMT_HANDLE hAdapter;
    D3DKMT_HANDLE hDevice;
    D3DKMT_ESCAPETYPE Type;
    D3DDDI_ESCAPEFLAGS Flags;
    D3DKMT_PTR(VOID*, pPrivateDriverData);
    UINT PrivateDriverDataSize;
    D3DKMT_HANDLE hContext;
} D3DKMT_ESCAPE;

#define D3DKMT_MAX_SEGMENT_COUNT 32

typedef enum _D3DKMT_MEMORY_SEGMENT_GROUP {
    D3DKMT_MEMORY_SEGMENT_GROUP_LOCAL = 0,
    D3DKMT_MEMORY_SEGMENT_GROUP_NON_LOCAL = 1
} D3DKMT_MEMORY_SEGMENT_GROUP;

/* ---------------------------------------------------------------------------------------------
 * D3DKMTQueryStatistics.
 * ------------------------------------------------------------------------------------------- */
typedef enum _D3DKMT_QUERYRESULT_PREEMPTION_ATTEMPT_RESULT {
    D3DKMT_PreemptionAttempt = 0,
    D3DKMT_PreemptionAttemptSuccess = 1,
    D3DKMT_PreemptionAttemptMissNoCommand = 2,
    D3DKMT_PreemptionAttemptMissNotEnabled = 3,
    D3DKMT_PreemptionAttemptMissNextFence = 4,
    D3DKMT_PreemptionAttemptMissPagingCommand = 5,
    D3DKMT_PreemptionAttemptMissSplittedCommand = 6,
    D3DKMT_PreemptionAttemptMissFenceCommand = 7,
    D3DKMT_PreemptionAttemptMissRenderPendingFlip = 8,
    D3DKMT_PreemptionAttemptMissNotMakingProgress = 9,
    D3DKMT_PreemptionAttemptMissLessPriority = 10,
    D3DKMT_PreemptionAttemptMissRemainingQuantum = 11,
    D3DKMT_PreemptionAttemptMissRemainingPreemptionQuantum = 12,
    D3DKMT_PreemptionAttemptMissAlreadyPreempting = 13,
    D3DKMT_PreemptionAttemptMissGlobalBlock = 14,
    D3DKMT_PreemptionAttemptMissAlreadyRunning = 15,
    D3DKMT_PreemptionAttemptStatisticsMax = 16,
} D3DKMT_QUERYRESULT_PREEMPTION_ATTEMPT_RESULT;
#define D3DKMT_QUERYRESULT_PREEMPTION_ATTEMPT_RESULT_MAX 16

typedef enum _D3DKMT_QUERYSTATISTICS_DMA_PACKET_TYPE {
    D3DKMT_ClientRenderBuffer = 0,
    D3DKMT_ClientPagingBuffer = 1,
    D3DKMT_SystemPagingBuffer = 2,
    D3DKMT_SystemPreemptionBuffer = 3,
    D3DKMT_DmaPacketTypeMax = 4
} D3DKMT_QUERYSTATISTICS_DMA_PACKET_TYPE;
#define D3DKMT_QUERYSTATISTICS_DMA_PACKET_TYPE_MAX 4

typedef enum _D3DKMT_QUERYSTATISTICS_QUEUE_PACKET_TYPE {
    D3DKMT_RenderCommandBuffer = 0,
    D3DKMT_DeferredCommandBuffer = 1,
    D3DKMT_SystemCommandBuffer = 2,
    D3DKMT_MmIoFlipCommandBuffer = 3,
    D3DKMT_WaitCommandBuffer = 4,
    D3DKMT_SignalCommandBuffer = 5,
    D3DKMT_DeviceCommandBuffer = 6,
    D3DKMT_SoftwareCommandBuffer = 7,
    D3DKMT_QueuePacketTypeMax = 8
} D3DKMT_QUERYSTATISTICS_QUEUE_PACKET_TYPE;
#define D3DKMT_QUERYSTATISTICS_QUEUE_PACKET_TYPE_MAX 8

typedef enum _D3DKMT_QUERYSTATISTICS_ALLOCATION_PRIORITY_CLASS {
    D3DKMT_AllocationPriorityClassMinimum = 0,
    D3DKMT_AllocationPriorityClassLow = 1,
    D3DKMT_AllocationPriorityClassNormal = 2,
    D3DKMT_AllocationPriorityClassHigh = 3,
    D3DKMT_AllocationPriorityClassMaximum = 4,
    D3DKMT_MaxAllocationPriorityClass = 5
} D3DKMT_QUERYSTATISTICS_ALLOCATION_PRIORITY_CLASS;
#define D3DKMT_QUERYSTATISTICS_ALLOCATION_PRIORITY_CLASS_MAX 5
#define D3DKMT_QUERYSTATISTICS_SEGMENT_PREFERENCE_MAX 5

typedef struct _D3DKMT_QUERYSTATISTICS_COUNTER {
    ULONG Count;
    ULONGLONG Bytes;
} D3DKMT_QUERYSTATISTICS_COUNTER;

typedef struct _D3DKMT_QUERYSTATISTICS_DMA_PACKET_TYPE_INFORMATION {
    ULONG PacketSubmited;
    ULONG PacketCompleted;
    ULONG PacketPreempted;
    ULONG PacketFaulted;
} D3DKMT_QUERYSTATISTICS_DMA_PACKET_TYPE_INFORMATION;

typedef struct _D3DKMT_QUERYSTATISTICS_QUEUE_PACKET_TYPE_INFORMATION {
    ULONG PacketSubmited;
    ULONG PacketCompleted;
} D3DKMT_QUERYSTATISTICS_QUEUE_PACKET_TYPE_INFORMATION;

typedef struct _D3DKMT_QUERYSTATISTICS_PACKET_INFORMATION {
    D3DKMT_QUERYSTATISTICS_QUEUE_PACKET_TYPE_INFORMATION QueuePacket[D3DKMT_QUERYSTATISTICS_QUEUE_PACKET_TYPE_MAX];
    D3DKMT_QUERYSTATISTICS_DMA_PACKET_TYPE_INFORMATION DmaPacket[D3DKMT_QUERYSTATISTICS_DMA_PACKET_TYPE_MAX];
} D3DKMT_QUERYSTATISTICS_PACKET_INFORMATION;

typedef struct _D3DKMT_QUERYSTATISTICS_PREEMPTION_INFORMATION {
    ULONG PreemptionCounter[D3DKMT_QUERYRESULT_PREEMPTION_ATTEMPT_RESULT_MAX];
} D3DKMT_QUERYSTATISTICS_PREEMPTION_INFORMATION;

typedef struct _D3DKMT_QUERYSTATISTICS_PROCESS_NODE_INFORMATION {
    D3DKMT_ALIGN64 LARGE_INTEGER RunningTime;
    ULONG ContextSwitch;
    D3DKMT_QUERYSTATISTICS_PREEMPTION_INFORMATION PreemptionStatistics;
    D3DKMT_QUERYSTATISTICS_PACKET_INFORMATION PacketStatistics;
    D3DKMT_ALIGN64 UINT64 Reserved[8];
} D3DKMT_QUERYSTATISTICS_PROCESS_NODE_INFORMATION;

typedef struct _D3DKMT_QUERYSTATISTICS_NODE_INFORMATION {
    D3DKMT_QUERYSTATISTICS_PROCESS_NODE_INFORMATION GlobalInformation;
    D3DKMT_QUERYSTATISTICS_PROCESS_NODE_INFORMATION SystemInformation;
    D3DKMT_NODE_PERFDATA NodePerfData;
    UINT32 Reserved[3];
} D3DKMT_QUERYSTATISTICS_NODE_INFORMATION;

typedef struct _D3DKMT_QUERYSTATISTICS_PROCESS_VIDPNSOURCE_INFORMATION {
    ULONG Frame;
    ULONG CancelledFrame;
    ULONG QueuedPresent;
    UINT Padding;
    D3DKMT_ALIGN64 UINT64 IsVSyncEnabled;
    D3DKMT_ALIGN64 UINT64 VSyncOnTotalTimeMs;
    D3DKMT_ALIGN64 UINT64 VSyncOffKeepPhaseTotalTimeMs;
    D3DKMT_ALIGN64 UINT64 VSyncOffNoPhaseTotalTimeMs;
    D3DKMT_ALIGN64 UINT64 Reserved[4];
} D3DKMT_QUERYSTATISTICS_PROCESS_VIDPNSOURCE_INFORMATION;

typedef struct _D3DKMT_QUERYSTATISTICS_VIDPNSOURCE_INFORMATION {
    D3DKMT_QUERYSTATISTICS_PROCESS_VIDPNSOURCE_INFORMATION GlobalInformation;
    D3DKMT_QUERYSTATISTICS_PROCESS_VIDPNSOURCE_INFORMATION SystemInformation;
    D3DKMT_ALIGN64 UINT64 Reserved[8];
} D3DKMT_QUERYSTATISTICS_VIDPNSOURCE_INFORMATION;

typedef struct _D3DKMT_QUERYSTATSTICS_REFERENCE_DMA_BUFFER {
    ULONG NbCall;
    ULONG NbAllocationsReferenced;
    ULONG MaxNbAllocationsReferenced;
    ULONG NbNULLReference;
    ULONG NbWriteReference;
    ULONG NbRenamedAllocationsReferenced;
    ULONG NbIterationSearchingRenamedAllocation;
    ULONG NbLockedAllocationReferenced;
    ULONG NbAllocationWithValidPrepatchingInfoReferenced;
    ULONG NbAllocationWithInvalidPrepatchingInfoReferenced;
    ULONG NbDMABufferSuccessfullyPrePatched;
    ULONG NbPrimariesReferencesOverflow;
    ULONG NbAllocationWithNonPreferredResources;
    ULONG NbAllocationInsertedInMigrationTable;
} D3DKMT_QUERYSTATSTICS_REFERENCE_DMA_BUFFER;

typedef struct _D3DKMT_QUERYSTATSTICS_RENAMING {
    ULONG NbAllocationsRenamed;
    ULONG NbAllocationsShrinked;
    ULONG NbRenamedBuffer;
    ULONG MaxRenamingListLength;
    ULONG NbFailuresDueToRenamingLimit;
    ULONG NbFailuresDueToCreateAllocation;
    ULONG NbFailuresDueToOpenAllocation;
    ULONG NbFailuresDueToLowResource;
    ULONG NbFailuresDueToNonRetiredLimit;
} D3DKMT_QUERYSTATSTICS_RENAMING;

typedef struct _D3DKMT_QUERYSTATSTICS_PREPRATION {
    ULONG BroadcastStall;
    ULONG NbDMAPrepared;
    ULONG NbDMAPreparedLongPath;
    ULONG ImmediateHighestPreparationPass;
    D3DKMT_QUERYSTATISTICS_COUNTER AllocationsTrimmed;
} D3DKMT_QUERYSTATSTICS_PREPRATION;

typedef struct _D3DKMT_QUERYSTATSTICS_PAGING_FAULT {
    D3DKMT_QUERYSTATISTICS_COUNTER Faults;
    D3DKMT_QUERYSTATISTICS_COUNTER FaultsFirstTimeAccess;
    D3DKMT_QUERYSTATISTICS_COUNTER FaultsReclaimed;
    D3DKMT_QUERYSTATISTICS_COUNTER FaultsMigration;
    D3DKMT_QUERYSTATISTICS_COUNTER FaultsIncorrectResource;
    D3DKMT_QUERYSTATISTICS_COUNTER FaultsLostContent;
    D3DKMT_QUERYSTATISTICS_COUNTER FaultsEvicted;
    D3DKMT_QUERYSTATISTICS_COUNTER AllocationsMEM_RESET;
    D3DKMT_QUERYSTATISTICS_COUNTER AllocationsUnresetSuccess;
    D3DKMT_QUERYSTATISTICS_COUNTER AllocationsUnresetFail;
    ULONG AllocationsUnresetSuccessRead;
    ULONG AllocationsUnresetFailRead;
    D3DKMT_QUERYSTATISTICS_COUNTER Evictions;
    D3DKMT_QUERYSTATISTICS_COUNTER EvictionsDueToPreparation;
    D3DKMT_QUERYSTATISTICS_COUNTER EvictionsDueToLock;
    D3DKMT_QUERYSTATISTICS_COUNTER EvictionsDueToClose;
    D3DKMT_QUERYSTATISTICS_COUNTER EvictionsDueToPurge;
    D3DKMT_QUERYSTATISTICS_COUNTER EvictionsDueToSuspendCPUAccess;
} D3DKMT_QUERYSTATSTICS_PAGING_FAULT;

typedef struct _D3DKMT_QUERYSTATSTICS_PAGING_TRANSFER {
    D3DKMT_ALIGN64 ULONGLONG BytesFilled;
    D3DKMT_ALIGN64 ULONGLONG BytesDiscarded;
    D3DKMT_ALIGN64 ULONGLONG BytesMappedIntoAperture;
    D3DKMT_ALIGN64 ULONGLONG BytesUnmappedFromAperture;
    D3DKMT_ALIGN64 ULONGLONG BytesTransferredFromMdlToMemory;
    D3DKMT_ALIGN64 ULONGLONG BytesTransferredFromMemoryToMdl;
    D3DKMT_ALIGN64 ULONGLONG BytesTransferredFromApertureToMemory;
    D3DKMT_ALIGN64 ULONGLONG BytesTransferredFromMemoryToAperture;
} D3DKMT_QUERYSTATSTICS_PAGING_TRANSFER;

typedef struct _D3DKMT_QUERYSTATSTICS_SWIZZLING_RANGE {
    ULONG NbRangesAcquired;
    ULONG NbRangesReleased;
} D3DKMT_QUERYSTATSTICS_SWIZZLING_RANGE;

typedef struct _D3DKMT_QUERYSTATSTICS_LOCKS {
    ULONG NbLocks;
    ULONG NbLocksWaitFlag;
    ULONG NbLocksDiscardFlag;
    ULONG NbLocksNoOverwrite;
    ULONG NbLocksNoReadSync;
    ULONG NbLocksLinearization;
    ULONG NbComplexLocks;
} D3DKMT_QUERYSTATSTICS_LOCKS;

typedef struct _D3DKMT_QUERYSTATSTICS_ALLOCATIONS {
    D3DKMT_QUERYSTATISTICS_COUNTER Created;
    D3DKMT_QUERYSTATISTICS_COUNTER Destroyed;
    D3DKMT_QUERYSTATISTICS_COUNTER Opened;
    D3DKMT_QUERYSTATISTICS_COUNTER Closed;
    D3DKMT_QUERYSTATISTICS_COUNTER MigratedSuccess;
    D3DKMT_QUERYSTATISTICS_COUNTER MigratedFail;
    D3DKMT_QUERYSTATISTICS_COUNTER MigratedAbandoned;
} D3DKMT_QUERYSTATSTICS_ALLOCATIONS;

typedef struct _D3DKMT_QUERYSTATSTICS_TERMINATIONS {
    D3DKMT_QUERYSTATISTICS_COUNTER TerminatedShared;
    D3DKMT_QUERYSTATISTICS_COUNTER TerminatedNonShared;
    D3DKMT_QUERYSTATISTICS_COUNTER DestroyedShared;
    D3DKMT_QUERYSTATISTICS_COUNTER DestroyedNonShared;
} D3DKMT_QUERYSTATSTICS_TERMINATIONS;

typedef struct _D3DKMT_QUERYSTATISTICS_ADAPTER_INFORMATION_FLAGS {
    union {
        struct {
            UINT64 NumberOfMemoryGroups : 2;
            UINT64 SupportsDemotion : 1;
            UINT64 Reserved : 61;
        };
        D3DKMT_ALIGN64 UINT64 Value;
    };
} D3DKMT_QUERYSTATISTICS_ADAPTER_INFORMATION_FLAGS;

typedef struct _D3DKMT_QUERYSTATISTICS_ADAPTER_INFORMATION {
    ULONG NbSegments;
    ULONG NodeCount;
    ULONG VidPnSourceCount;
    ULONG VSyncEnabled;
    ULONG TdrDetectedCount;
    D3DKMT_ALIGN64 LONGLONG ZeroLengthDmaBuffers;
    D3DKMT_ALIGN64 ULONGLONG RestartedPeriod;
    D3DKMT_QUERYSTATSTICS_REFERENCE_DMA_BUFFER ReferenceDmaBuffer;
    D3DKMT_QUERYSTATSTICS_RENAMING Renaming;
    D3DKMT_QUERYSTATSTICS_PREPRATION Preparation;
    D3DKMT_QUERYSTATSTICS_PAGING_FAULT PagingFault;
    D3DKMT_QUERYSTATSTICS_PAGING_TRANSFER PagingTransfer;
    D3DKMT_QUERYSTATSTICS_SWIZZLING_RANGE SwizzlingRange;
    D3DKMT_QUERYSTATSTICS_LOCKS Locks;
    D3DKMT_QUERYSTATSTICS_ALLOCATIONS Allocations;
    D3DKMT_QUERYSTATSTICS_TERMINATIONS Terminations;
    D3DKMT_QUERYSTATISTICS_ADAPTER_INFORMATION_FLAGS Flags;
    D3DKMT_ALIGN64 UINT64 Reserved[7];
} D3DKMT_QUERYSTATISTICS_ADAPTER_INFORMATION;

typedef struct _D3DKMT_QUERYSTATISTICS_PHYSICAL_ADAPTER_INFORMATION {
    D3DKMT_ADAPTER_PERFDATA AdapterPerfData;
    D3DKMT_ADAPTER_PERFDATACAPS AdapterPerfDataCaps;
    D3DKMT_GPUVERSION GpuVersion;
} D3DKMT_QUERYSTATISTICS_PHYSICAL_ADAPTER_INFORMATION;

typedef struct _D3DKMT_QUERYSTATISTICS_SYSTEM_MEMORY {
    D3DKMT_ALIGN64 ULONGLONG BytesAllocated;
    D3DKMT_ALIGN64 ULONGLONG BytesReserved;
    ULONG SmallAllocationBlocks;
    ULONG LargeAllocationBlocks;
    D3DKMT_ALIGN64 ULONGLONG WriteCombinedBytesAllocated;
    D3DKMT_ALIGN64 ULONGLONG WriteCombinedBytesReserved;
    D3DKMT_ALIGN64 ULONGLONG CachedBytesAllocated;
    D3DKMT_ALIGN64 ULONGLONG CachedBytesReserved;
    D3DKMT_ALIGN64 ULONGLONG SectionBytesAllocated;
    D3DKMT_ALIGN64 ULONGLONG SectionBytesReserved;
    D3DKMT_ALIGN64 ULONGLONG BytesZeroed;
} D3DKMT_QUERYSTATISTICS_SYSTEM_MEMORY;

typedef struct _D3DKMT_QUERYSTATISTICS_PROCESS_INFORMATION {
    ULONG NodeCount;
    ULONG VidPnSourceCount;
    D3DKMT_QUERYSTATISTICS_SYSTEM_MEMORY SystemMemory;
    D3DKMT_ALIGN64 UINT64 Reserved[7];
} D3DKMT_QUERYSTATISTICS_PROCESS_INFORMATION;

typedef struct _D3DKMT_QUERYSTATISTICS_DMA_BUFFER {
    D3DKMT_QUERYSTATISTICS_COUNTER Size;
    ULONG AllocationListBytes;
    ULONG PatchLocationListBytes;
} D3DKMT_QUERYSTATISTICS_DMA_BUFFER;

typedef struct _D3DKMT_QUERYSTATISTICS_COMMITMENT_DATA {
    D3DKMT_ALIGN64 UINT64 TotalBytesEvictedFromProcess;
    D3DKMT_ALIGN64 UINT64 BytesBySegmentPreference[D3DKMT_QUERYSTATISTICS_SEGMENT_PREFERENCE_MAX];
} D3DKMT_QUERYSTATISTICS_COMMITMENT_DATA;

typedef struct _D3DKMT_QUERYSTATISTICS_POLICY {
    D3DKMT_ALIGN64 ULONGLONG PreferApertureForRead[D3DKMT_QUERYSTATISTICS_ALLOCATION_PRIORITY_CLASS_MAX];
    D3DKMT_ALIGN64 ULONGLONG PreferAperture[D3DKMT_QUERYSTATISTICS_ALLOCATION_PRIORITY_CLASS_MAX];
    D3DKMT_ALIGN64 ULONGLONG MemResetOnPaging;
    D3DKMT_ALIGN64 ULONGLONG RemovePagesFromWorkingSetOnPaging;
    D3DKMT_ALIGN64 ULONGLONG MigrationEnabled;
} D3DKMT_QUERYSTATISTICS_POLICY;

#define D3DKMT_QUERYSTATISTICS_PROCESS_INTERFERENCE_BUCKET_COUNT 9

typedef struct _D3DKMT_QUERYSTATISTICS_PROCESS_INTERFERENCE_COUNTERS {
    D3DKMT_ALIGN64 UINT64 InterferenceCount[D3DKMT_QUERYSTATISTICS_PROCESS_INTERFERENCE_BUCKET_COUNT];
} D3DKMT_QUERYSTATISTICS_PROCESS_INTERFERENCE_COUNTERS;

typedef struct _D3DKMT_QUERYSTATISTICS_PROCESS_ADAPTER_INFORMATION {
    ULONG NbSegments;
    ULONG NodeCount;
    ULONG VidPnSourceCount;
    ULONG VirtualMemoryUsage;
    D3DKMT_QUERYSTATISTICS_DMA_BUFFER DmaBuffer;
    D3DKMT_QUERYSTATISTICS_COMMITMENT_DATA CommitmentData;
    D3DKMT_QUERYSTATISTICS_POLICY _Policy;
    D3DKMT_QUERYSTATISTICS_PROCESS_INTERFERENCE_COUNTERS ProcessInterferenceCounters;
    D3DKMT_CLIENTHINT ClientHint;
} D3DKMT_QUERYSTATISTICS_PROCESS_ADAPTER_INFORMATION;

typedef struct _D3DKMT_QUERYSTATISTICS_MEMORY {
    D3DKMT_ALIGN64 ULONGLONG TotalBytesEvicted;
    ULONG AllocsCommitted;
    ULONG AllocsResident;
} D3DKMT_QUERYSTATISTICS_MEMORY;

typedef struct _D3DKMT_QUERYSTATISTICS_SEGMENT_INFORMATION {
    D3DKMT_ALIGN64 ULONGLONG CommitLimit;
    D3DKMT_ALIGN64 ULONGLONG BytesCommitted;
    D3DKMT_ALIGN64 ULONGLONG BytesResident;
    D3DKMT_QUERYSTATISTICS_MEMORY Memory;
    ULONG Aperture;
    D3DKMT_ALIGN64 ULONGLONG TotalBytesEvictedByPriority[D3DKMT_QUERYSTATISTICS_ALLOCATION_PRIORITY_CLASS_MAX];
    D3DKMT_ALIGN64 UINT64 SystemMemoryEndAddress;
    struct D3DKMT_ALIGN64 {
        UINT64 PreservedDuringStandby : 1;
        UINT64 PreservedDuringHibernate : 1;
        UINT64 PartiallyPreservedDuringHibernate : 1;
        UINT64 Reserved : 61;
    } PowerFlags;
    struct D3DKMT_ALIGN64 {
        UINT64 SystemMemory : 1;
        UINT64 PopulatedByReservedDDRByFirmware : 1;
        UINT64 Reserved : 62;
    } SegmentProperties;
    D3DKMT_ALIGN64 UINT64 Reserved[5];
} D3DKMT_QUERYSTATISTICS_SEGMENT_INFORMATION;

typedef struct _D3DKMT_QUERYSTATISTICS_VIDEO_MEMORY {
    ULONG AllocsCommitted;
    D3DKMT_QUERYSTATISTICS_COUNTER AllocsResidentInP[D3DKMT_QUERYSTATISTICS_SEGMENT_PREFERENCE_MAX];
    D3DKMT_QUERYSTATISTICS_COUNTER AllocsResidentInNonPreferred;
    D3DKMT_ALIGN64 ULONGLONG TotalBytesEvictedDueToPreparation;
} D3DKMT_QUERYSTATISTICS_VIDEO_MEMORY;

typedef struct _D3DKMT_QUERYSTATISTICS_PROCESS_SEGMENT_POLICY {
    D3DKMT_ALIGN64 ULONGLONG UseMRU;
} D3DKMT_QUERYSTATISTICS_PROCESS_SEGMENT_POLICY;

typedef struct _D3DKMT_QUERYSTATISTICS_PROCESS_SEGMENT_INFORMATION {
    D3DKMT_ALIGN64 ULONGLONG BytesCommitted;
    D3DKMT_ALIGN64 ULONGLONG MaximumWorkingSet;
    D3DKMT_ALIGN64 ULONGLONG MinimumWorkingSet;
    ULONG NbReferencedAllocationEvictedInPeriod;
    UINT Padding;
    D3DKMT_QUERYSTATISTICS_VIDEO_MEMORY VideoMemory;
    D3DKMT_QUERYSTATISTICS_PROCESS_SEGMENT_POLICY _Policy;
    D3DKMT_ALIGN64 UINT64 Reserved[8];
} D3DKMT_QUERYSTATISTICS_PROCESS_SEGMENT_INFORMATION;

typedef struct _D3DKMT_QUERYSTATISTICS_PROCESS_SEGMENT_GROUP_INFORMATION {
    D3DKMT_ALIGN64 UINT64 Budget;
    D3DKMT_ALIGN64 UINT64 Requested;
    D3DKMT_ALIGN64 UINT64 Usage;
    D3DKMT_ALIGN64 UINT64 Demoted[D3DKMT_QUERYSTATISTICS_ALLOCATION_PRIORITY_CLASS_MAX];
} D3DKMT_QUERYSTATISTICS_PROCESS_SEGMENT_GROUP_INFORMATION;

typedef enum _D3DKMT_QUERYSTATISTICS_TYPE {
    D3DKMT_QUERYSTATISTICS_ADAPTER = 0,
    D3DKMT_QUERYSTATISTICS_PROCESS = 1,
    D3DKMT_QUERYSTATISTICS_PROCESS_ADAPTER = 2,
    D3DKMT_QUERYSTATISTICS_SEGMENT = 3,
    D3DKMT_QUERYSTATISTICS_PROCESS_SEGMENT = 4,
    D3DKMT_QUERYSTATISTICS_NODE = 5,
    D3DKMT_QUERYSTATISTICS_PROCESS_NODE = 6,
    D3DKMT_QUERYSTATISTICS_VIDPNSOURCE = 7,
    D3DKMT_QUERYSTATISTICS_PROCESS_VIDPNSOURCE = 8,
    D3DKMT_QUERYSTATISTICS_PROCESS_SEGMENT_GROUP = 9,
    D3DKMT_QUERYSTATISTICS_PHYSICAL_ADAPTER = 10,
} D3DKMT_QUERYSTATISTICS_TYPE;

typedef struct _D3DKMT_QUERYSTATISTICS_QUERY_SEGMENT {
    ULONG SegmentId;
} D3DKMT_QUERYSTATISTICS_QUERY_SEGMENT;

typedef struct _D3DKMT_QUERYSTATISTICS_QUERY_NODE {
    ULONG NodeId;
} D3DKMT_QUERYSTATISTICS_QUERY_NODE;

typedef struct _D3DKMT_QUERYSTATISTICS_QUERY_VIDPNSOURCE {
    ULONG VidPnSourceId;
} D3DKMT_QUERYSTATISTICS_QUERY_VIDPNSOURCE;

typedef struct _D3DKMT_QUERYSTATISTICS_QUERY_PHYSICAL_ADAPTER {
    ULONG PhysicalAdapterIndex;
} D3DKMT_QUERYSTATISTICS_QUERY_PHYSICAL_ADAPTER;

typedef union _D3DKMT_QUERYSTATISTICS_RESULT {
    D3DKMT_QUERYSTATISTICS_ADAPTER_INFORMATION AdapterInformation;
    D3DKMT_QUERYSTATISTICS_PHYSICAL_ADAPTER_INFORMATION PhysAdapterInformation;
    D3DKMT_QUERYSTATISTICS_SEGMENT_INFORMATION SegmentInformation;
    D3DKMT_QUERYSTATISTICS_NODE_INFORMATION NodeInformation;
    D3DKMT_QUERYSTATISTICS_VIDPNSOURCE_INFORMATION VidPnSourceInformation;
    D3DKMT_QUERYSTATISTICS_PROCESS_INFORMATION ProcessInformation;
    D3DKMT_QUERYSTATISTICS_PROCESS_ADAPTER_INFORMATION ProcessAdapterInformation;
    D3DKMT_QUERYSTATISTICS_PROCESS_SEGMENT_INFORMATION ProcessSegmentInformation;
    D3DKMT_QUERYSTATISTICS_PROCESS_NODE_INFORMATION ProcessNodeInformation;
    D3DKMT_QUERYSTATISTICS_PROCESS_VIDPNSOURCE_INFORMATION ProcessVidPnSourceInformation;
    D3DKMT_QUERYSTATISTICS_PROCESS_SEGMENT_GROUP_INFORMATION ProcessSegmentGroupInformation;
} D3DKMT_QUERYSTATISTICS_RESULT;

typedef struct _D3DKMT_QUERYSTATISTICS {
    D3DKMT_QUERYSTATISTICS_TYPE Type;
    LUID AdapterLuid;
    D3DKMT_PTR(HANDLE, hProcess);
    D3DKMT_QUERYSTATISTICS_RESULT QueryResult;
    union {
        D3DKMT_QUERYSTATISTICS_QUERY_SEGMENT QuerySegment;
        D3DKMT_QUERYSTATISTICS_QUERY_SEGMENT QueryProcessSegment;
        D3DKMT_MEMORY_SEGMENT_GROUP QueryProcessSegmentGroup;
        D3DKMT_QUERYSTATISTICS_QUERY_NODE QueryNode;
        D3DKMT_QUERYSTATISTICS_QUERY_NODE QueryProcessNode;
        D3DKMT_QUERYSTATISTICS_QUERY_VIDPNSOURCE QueryVidPnSource;
        D3DKMT_QUERYSTATISTICS_QUERY_VIDPNSOURCE QueryProcessVidPnSource;
        D3DKMT_QUERYSTATISTICS_QUERY_PHYSICAL_ADAPTER QueryPhysAdapter;
    };
} D3DKMT_QUERYSTATISTICS;

/* ---------------------------------------------------------------------------------------------
 * Device state, scheduling priorities, keyed mutexes, offers.
 * ------------------------------------------------------------------------------------------- */
typedef enum _D3DKMT_DEVICEEXECUTION_STATE {
    D3DKMT_DEVICEEXECUTION_ACTIVE = 1,
    D3DKMT_DEVICEEXECUTION_RESET = 2,
    D3DKMT_DEVICEEXECUTION_HUNG = 3,
    D3DKMT_DEVICEEXECUTION_STOPPED = 4,
    D3DKMT_DEVICEEXECUTION_ERROR_OUTOFMEMORY = 5,
    D3DKMT_DEVICEEXECUTION_ERROR_DMAFAULT = 6,
    D3DKMT_DEVICEEXECUTION_ERROR_DMAPAGEFAULT = 7,
} D3DKMT_DEVICEEXECUTION_STATE;

typedef struct _D3DKMT_DEVICERESET_STATE {
    union {
        struct {
            UINT DesktopSwitched : 1;
            UINT Reserved : 31;
        };
        UINT Value;
    };
} D3DKMT_DEVICERESET_STATE;

typedef struct _D3DKMT_PRESENT_STATS {
    UINT PresentCount;
    UINT PresentRefreshCount;
    UINT SyncRefreshCount;
    D3DKMT_ALIGN64 LARGE_INTEGER SyncQPCTime;
    D3DKMT_ALIGN64 LARGE_INTEGER SyncGPUTime;
} D3DKMT_PRESENT_STATS;

typedef struct _D3DKMT_DEVICEPRESENT_STATE {
    D3DDDI_VIDEO_PRESENT_SOURCE_ID VidPnSourceId;
    D3DKMT_PRESENT_STATS PresentStats;
} D3DKMT_DEVICEPRESENT_STATE;

typedef struct _D3DKMT_PRESENT_STATS_DWM {
    UINT PresentCount;
    UINT PresentRefreshCount;
    D3DKMT_ALIGN64 LARGE_INTEGER PresentQPCTime;
    UINT SyncRefreshCount;
    D3DKMT_ALIGN64 LARGE_INTEGER SyncQPCTime;
    UINT CustomPresentDuration;
} D3DKMT_PRESENT_STATS_DWM;

typedef enum _DXGK_RENDER_PIPELINE_STAGE {
    DXGK_RENDER_PIPELINE_STAGE_UNKNOWN = 0,
    DXGK_RENDER_PIPELINE_STAGE_INPUT_ASSEMBLER = 1,
    DXGK_RENDER_PIPELINE_STAGE_VERTEX_SHADER = 2,
    DXGK_RENDER_PIPELINE_STAGE_GEOMETRY_SHADER = 3,
    DXGK_RENDER_PIPELINE_STAGE_STREAM_OUTPUT = 4,
    DXGK_RENDER_PIPELINE_STAGE_RASTERIZER = 5,
    DXGK_RENDER_PIPELINE_STAGE_PIXEL_SHADER = 6,
    DXGK_RENDER_PIPELINE_STAGE_OUTPUT_MERGER = 7,
} DXGK_RENDER_PIPELINE_STAGE;

typedef enum _DXGK_PAGE_FAULT_FLAGS {
    DXGK_PAGE_FAULT_WRITE = 0x1,
    DXGK_PAGE_FAULT_FENCE_INVALID = 0x2,
    DXGK_PAGE_FAULT_ADAPTER_RESET_REQUIRED = 0x4,
    DXGK_PAGE_FAULT_ENGINE_RESET_REQUIRED = 0x8,
    DXGK_PAGE_FAULT_FATAL_HARDWARE_ERROR = 0x10,
    DXGK_PAGE_FAULT_IOMMU = 0x20,
    DXGK_PAGE_FAULT_HW_CONTEXT_VALID = 0x40,
    DXGK_PAGE_FAULT_PROCESS_HANDLE_VALID = 0x80,
} DXGK_PAGE_FAULT_FLAGS;

typedef enum _DXGK_GENERAL_ERROR_CODE {
    DXGK_GENERAL_ERROR_PAGE_FAULT = 0,
    DXGK_GENERAL_ERROR_INVALID_INSTRUCTION = 1,
} DXGK_GENERAL_ERROR_CODE;

typedef struct _DXGK_FAULT_ERROR_CODE {
    union {
        struct {
            UINT IsDeviceSpecificCode : 1;
            DXGK_GENERAL_ERROR_CODE GeneralErrorCode : 31;
        };
        struct {
            UINT IsDeviceSpecificCodeReservedBit : 1;
            UINT DeviceSpecificCode : 31;
        };
    };
} DXGK_FAULT_ERROR_CODE;

typedef struct _D3DKMT_DEVICEPAGEFAULT_STATE {
    D3DKMT_ALIGN64 UINT64 FaultedPrimitiveAPISequenceNumber;
    DXGK_RENDER_PIPELINE_STAGE FaultedPipelineStage;
    UINT FaultedBindTableEntry;
    DXGK_PAGE_FAULT_FLAGS PageFaultFlags;
    DXGK_FAULT_ERROR_CODE FaultErrorCode;
    D3DKMT_ALIGN64 D3DGPU_VIRTUAL_ADDRESS FaultedVirtualAddress;
} D3DKMT_DEVICEPAGEFAULT_STATE;

typedef struct _D3DKMT_DEVICEPRESENT_STATE_DWM {
    D3DDDI_VIDEO_PRESENT_SOURCE_ID VidPnSourceId;
    D3DKMT_PRESENT_STATS_DWM PresentStatsDWM;
} D3DKMT_DEVICEPRESENT_STATE_DWM;

typedef struct _D3DKMT_DEVICEPRESENT_QUEUE_STATE {
    D3DDDI_VIDEO_PRESENT_SOURCE_ID VidPnSourceId;
    BOOLEAN bQueuedPresentLimitReached;
} D3DKMT_DEVICEPRESENT_QUEUE_STATE;

typedef enum _D3DKMT_DEVICESTATE_TYPE {
    D3DKMT_DEVICESTATE_EXECUTION = 1,
    D3DKMT_DEVICESTATE_PRESENT = 2,
    D3DKMT_DEVICESTATE_RESET = 3,
    D3DKMT_DEVICESTATE_PRESENT_DWM = 4,
    D3DKMT_DEVICESTATE_PAGE_FAULT = 5,
    D3DKMT_DEVICESTATE_PRESENT_QUEUE = 6,
} D3DKMT_DEVICESTATE_TYPE;

typedef struct _D3DKMT_GETDEVICESTATE {
    D3DKMT_HANDLE hDevice;
    D3DKMT_DEVICESTATE_TYPE StateType;
    union {
        D3DKMT_DEVICEEXECUTION_STATE ExecutionState;
        D3DKMT_DEVICEPRESENT_STATE PresentState;
        D3DKMT_DEVICERESET_STATE ResetState;
        D3DKMT_DEVICEPRESENT_STATE_DWM PresentStateDWM;
        D3DKMT_DEVICEPAGEFAULT_STATE PageFaultState;
        D3DKMT_DEVICEPRESENT_QUEUE_STATE PresentQueueState;
    };
} D3DKMT_GETDEVICESTATE;

#define D3DKMT_SETCONTEXTSCHEDULINGPRIORITY_ABSOLUTE 0x40000000

typedef struct _D3DKMT_SETCONTEXTSCHEDULINGPRIORITY {
    D3DKMT_HANDLE hContext;
    INT Priority;
} D3DKMT_SETCONTEXTSCHEDULINGPRIORITY;

typedef struct _D3DKMT_SETCONTEXTINPROCESSSCHEDULINGPRIORITY {
    D3DKMT_HANDLE hContext;
    INT Priority;
} D3DKMT_SETCONTEXTINPROCESSSCHEDULINGPRIORITY;

typedef struct _D3DKMT_GETCONTEXTSCHEDULINGPRIORITY {
    D3DKMT_HANDLE hContext;
    INT Priority;
} D3DKMT_GETCONTEXTSCHEDULINGPRIORITY;

typedef struct _D3DKMT_GETCONTEXTINPROCESSSCHEDULINGPRIORITY {
    D3DKMT_HANDLE hContext;
    INT Priority;
} D3DKMT_GETCONTEXTINPROCESSSCHEDULINGPRIORITY;

typedef enum _D3DKMT_QUEUEDLIMIT_TYPE {
    D3DKMT_SET_QUEUEDLIMIT_PRESENT = 1,
    D3DKMT_GET_QUEUEDLIMIT_PRESENT = 2,
} D3DKMT_QUEUEDLIMIT_TYPE;

typedef struct _D3DKMT_SETQUEUEDLIMIT {
    D3DKMT_HANDLE hDevice;
    D3DKMT_QUEUEDLIMIT_TYPE Type;
    union {
        UINT QueuedPresentLimit;
        struct {
            D3DDDI_VIDEO_PRESENT_SOURCE_ID VidPnSourceId;
            UINT QueuedPendingFlipLimit;
        };
    };
} D3DKMT_SETQUEUEDLIMIT;

typedef struct _D3DKMT_SETDISPLAYPRIVATEDRIVERFORMAT {
    D3DKMT_HANDLE hDevice;
    D3DDDI_VIDEO_PRESENT_SOURCE_ID VidPnSourceId;
    UINT PrivateDriverFormatAttribute;
} D3DKMT_SETDISPLAYPRIVATEDRIVERFORMAT;

typedef struct _D3DKMT_DESTROYKEYEDMUTEX {
    D3DKMT_HANDLE hKeyedMutex;
} D3DKMT_DESTROYKEYEDMUTEX;

typedef struct _D3DKMT_CREATEKEYEDMUTEX2_FLAGS {
    union {
        struct {
            UINT NtSecuritySharing : 1;
            UINT Reserved : 31;
        };
        UINT Value;
    };
} D3DKMT_CREATEKEYEDMUTEX2_FLAGS;

typedef struct _D3DKMT_CREATEKEYEDMUTEX2 {
    D3DKMT_ALIGN64 UINT64 InitialValue;
    D3DKMT_HANDLE hSharedHandle;
    D3DKMT_HANDLE hKeyedMutex;
    D3DKMT_PTR(VOID*, pPrivateRuntimeData);
    UINT PrivateRuntimeDataSize;
    D3DKMT_CREATEKEYEDMUTEX2_FLAGS Flags;
} D3DKMT_CREATEKEYEDMUTEX2;

typedef struct _D3DKMT_OPENKEYEDMUTEX2 {
    D3DKMT_HANDLE hSharedHandle;
    D3DKMT_HANDLE hKeyedMutex;
    D3DKMT_PTR(VOID*, pPrivateRuntimeData);
    UINT PrivateRuntimeDataSize;
} D3DKMT_OPENKEYEDMUTEX2;

typedef struct _D3DKMT_ACQUIREKEYEDMUTEX2 {
    D3DKMT_HANDLE hKeyedMutex;
    D3DKMT_ALIGN64 UINT64 Key;
    D3DKMT_PTR(PLARGE_INTEGER, pTimeout);
    D3DKMT_ALIGN64 UINT64 FenceValue;
    D3DKMT_PTR(VOID*, pPrivateRuntimeData);
    UINT PrivateRuntimeDataSize;
} D3DKMT_ACQUIREKEYEDMUTEX2;

typedef struct _D3DKMT_RELEASEKEYEDMUTEX2 {
    D3DKMT_HANDLE hKeyedMutex;
    D3DKMT_ALIGN64 UINT64 Key;
    D3DKMT_ALIGN64 UINT64 FenceValue;
    D3DKMT_PTR(VOID*, pPrivateRuntimeData);
    UINT PrivateRuntimeDataSize;
} D3DKMT_RELEASEKEYEDMUTEX2;

typedef enum _D3DKMT_OFFER_PRIORITY {
    D3DKMT_OFFER_PRIORITY_LOW = 1,
    D3DKMT_OFFER_PRIORITY_NORMAL,
    D3DKMT_OFFER_PRIORITY_HIGH,
    D3DKMT_OFFER_PRIORITY_AUTO,
} D3DKMT_OFFER_PRIORITY;

typedef struct _D3DKMT_OFFER_FLAGS {
    union {
        struct {
            UINT OfferImmediately : 1;
            UINT AllowDecommit : 1;
            UINT Reserved : 30;
        };
        UINT Value;
    };
} D3DKMT_OFFER_FLAGS;

typedef struct _D3DKMT_OFFERALLOCATIONS {
    D3DKMT_HANDLE hDevice;
    D3DKMT_PTR(D3DKMT_HANDLE*, pResources);
    D3DKMT_PTR(CONST D3DKMT_HANDLE*, HandleList);
    UINT NumAllocations;
    D3DKMT_OFFER_PRIORITY Priority;
    D3DKMT_OFFER_FLAGS Flags;
} D3DKMT_OFFERALLOCATIONS;

typedef struct _D3DKMT_RECLAIMALLOCATIONS2 {
    D3DKMT_HANDLE hPagingQueue;
    UINT NumAllocations;
    D3DKMT_PTR(D3DKMT_HANDLE*, pResources);
    D3DKMT_PTR(CONST D3DKMT_HANDLE*, HandleList);
    union {
        BOOL* pDiscarded;
        D3DDDI_RECLAIM_RESULT* pResults;
        D3DKMT_PTR_HELPER(AlignUnionTo64)
    };
    D3DKMT_ALIGN64 UINT64 PagingFenceValue;
} D3DKMT_RECLAIMALLOCATIONS2;

typedef struct _D3DKMT_GETSHAREDRESOURCEADAPTERLUID {
    D3DKMT_HANDLE hGlobalShare;
    D3DKMT_PTR(HANDLE, hNtHandle);
    LUID AdapterLuid;
} D3DKMT_GETSHAREDRESOURCEADAPTERLUID;

/* ---------------------------------------------------------------------------------------------
 * WDDM 2: monitored fences, paging queues, GPU virtual addresses, hardware queues.
 * ------------------------------------------------------------------------------------------- */
typedef struct _D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMCPU {
    D3DKMT_HANDLE hDevice;
    UINT ObjectCount;
    D3DKMT_PTR(const D3DKMT_HANDLE*, ObjectHandleArray);
    D3DKMT_PTR(const UINT64*, FenceValueArray);
    D3DKMT_PTR(HANDLE, hAsyncEvent);
    D3DDDI_WAITFORSYNCHRONIZATIONOBJECTFROMCPU_FLAGS Flags;
} D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMCPU;

typedef struct _D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMCPU {
    D3DKMT_HANDLE hDevice;
    UINT ObjectCount;
    D3DKMT_PTR(const D3DKMT_HANDLE*, ObjectHandleArray);
    D3DKMT_PTR(const UINT64*, FenceValueArray);
    D3DDDICB_SIGNALFLAGS Flags;
} D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMCPU;

typedef struct _D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMGPU {
    D3DKMT_HANDLE hContext;
    UINT ObjectCount;
    D3DKMT_PTR(const D3DKMT_HANDLE*, ObjectHandleArray);
    union {
        const UINT64* MonitoredFenceValueArray;
        D3DKMT_ALIGN64 UINT64 FenceValue;
        D3DKMT_ALIGN64 UINT64 Reserved[8];
    };
} D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMGPU;

typedef struct _D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU {
    D3DKMT_HANDLE hContext;
    UINT ObjectCount;
    D3DKMT_PTR(const D3DKMT_HANDLE*, ObjectHandleArray);
    union {
        const UINT64* MonitoredFenceValueArray;
        D3DKMT_ALIGN64 UINT64 Reserved[8];
    };
} D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU;

typedef struct _D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU2 {
    UINT ObjectCount;
    D3DKMT_PTR(const D3DKMT_HANDLE*, ObjectHandleArray);
    D3DDDICB_SIGNALFLAGS Flags;
    ULONG BroadcastContextCount;
    D3DKMT_PTR(const D3DKMT_HANDLE*, BroadcastContextArray);
    union {
        D3DKMT_ALIGN64 UINT64 FenceValue;
        HANDLE CpuEventHandle;
        const UINT64* MonitoredFenceValueArray;
        D3DKMT_ALIGN64 UINT64 Reserved[8];
    };
} D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU2;

typedef struct _D3DKMT_CREATEPAGINGQUEUE {
    D3DKMT_HANDLE hDevice;
    D3DDDI_PAGINGQUEUE_PRIORITY Priority;
    D3DKMT_HANDLE hPagingQueue;
    D3DKMT_HANDLE hSyncObject;
    D3DKMT_PTR(VOID*, FenceValueCPUVirtualAddress);
    UINT PhysicalAdapterIndex;
} D3DKMT_CREATEPAGINGQUEUE;

typedef struct _D3DKMT_EVICT {
    D3DKMT_HANDLE hDevice;
    UINT NumAllocations;
    D3DKMT_PTR(CONST D3DKMT_HANDLE*, AllocationList);
    D3DDDI_EVICT_FLAGS Flags;
    D3DKMT_ALIGN64 UINT64 NumBytesToTrim;
} D3DKMT_EVICT;

typedef struct _D3DKMT_LOCK2 {
    D3DKMT_HANDLE hDevice;
    D3DKMT_HANDLE hAllocation;
    D3DDDICB_LOCK2FLAGS Flags;
    D3DKMT_PTR(PVOID, pData);
} D3DKMT_LOCK2;

typedef struct _D3DKMT_UNLOCK2 {
    D3DKMT_HANDLE hDevice;
    D3DKMT_HANDLE hAllocation;
} D3DKMT_UNLOCK2;

typedef struct _D3DKMT_INVALIDATECACHE {
    D3DKMT_HANDLE hDevice;
    D3DKMT_HANDLE hAllocation;
    D3DKMT_ALIGN64 D3DKMT_SIZE_T Offset;
    D3DKMT_ALIGN64 D3DKMT_SIZE_T Length;
} D3DKMT_INVALIDATECACHE;

typedef struct _D3DKMT_FREEGPUVIRTUALADDRESS {
    D3DKMT_HANDLE hAdapter;
    D3DKMT_ALIGN64 D3DGPU_VIRTUAL_ADDRESS BaseAddress;
    D3DKMT_ALIGN64 D3DGPU_SIZE_T Size;
} D3DKMT_FREEGPUVIRTUALADDRESS;

typedef struct _D3DKMT_UPDATEGPUVIRTUALADDRESS {
    D3DKMT_HANDLE hDevice;
    D3DKMT_HANDLE hContext;
    D3DKMT_HANDLE hFenceObject;
    UINT NumOperations;
    D3DKMT_PTR(D3DDDI_UPDATEGPUVIRTUALADDRESS_OPERATION*, Operations);
    D3DKMT_ALIGN64 D3DKMT_SIZE_T Reserved0;
    D3DKMT_ALIGN64 UINT64 Reserved1;
    D3DKMT_ALIGN64 UINT64 FenceValue;
    union {
        struct {
            UINT DoNotWait : 1;
            UINT Reserved : 31;
        };
        UINT Value;
    } Flags;
} D3DKMT_UPDATEGPUVIRTUALADDRESS;

typedef struct _D3DKMT_CREATECONTEXTVIRTUAL {
    D3DKMT_HANDLE hDevice;
    UINT NodeOrdinal;
    UINT EngineAffinity;
    D3DDDI_CREATECONTEXTFLAGS Flags;
    D3DKMT_PTR(VOID*, pPrivateDriverData);
    UINT PrivateDriverDataSize;
    D3DKMT_CLIENTHINT ClientHint;
    D3DKMT_HANDLE hContext;
} D3DKMT_CREATECONTEXTVIRTUAL;

typedef struct _D3DKMT_SUBMITCOMMANDFLAGS {
    UINT NullRendering : 1;
    UINT PresentRedirected : 1;
    UINT NoKmdAccess : 1;
    UINT Reserved : 29;
} D3DKMT_SUBMITCOMMANDFLAGS;

typedef struct _D3DKMT_SUBMITCOMMAND {
    D3DKMT_ALIGN64 D3DGPU_VIRTUAL_ADDRESS Commands;
    UINT CommandLength;
    D3DKMT_SUBMITCOMMANDFLAGS Flags;
    D3DKMT_ALIGN64 ULONGLONG PresentHistoryToken;
    UINT BroadcastContextCount;
    D3DKMT_HANDLE BroadcastContext[D3DDDI_MAX_BROADCAST_CONTEXT];
    D3DKMT_PTR(VOID*, pPrivateDriverData);
    UINT PrivateDriverDataSize;
    UINT NumPrimaries;
    D3DKMT_HANDLE WrittenPrimaries[D3DDDI_MAX_WRITTEN_PRIMARIES];
    UINT NumHistoryBuffers;
    D3DKMT_PTR(D3DKMT_HANDLE*, HistoryBufferArray);
} D3DKMT_SUBMITCOMMAND;

typedef struct _D3DKMT_SUBMITCOMMANDTOHWQUEUE {
    D3DKMT_HANDLE hHwQueue;
    D3DKMT_ALIGN64 UINT64 HwQueueProgressFenceId;
    D3DKMT_ALIGN64 D3DGPU_VIRTUAL_ADDRESS CommandBuffer;
    UINT CommandLength;
    UINT PrivateDriverDataSize;
    D3DKMT_PTR(VOID*, pPrivateDriverData);
    UINT NumPrimaries;
    D3DKMT_PTR(D3DKMT_HANDLE CONST*, WrittenPrimaries);
} D3DKMT_SUBMITCOMMANDTOHWQUEUE;

typedef struct _D3DKMT_SUBMITWAITFORSYNCOBJECTSTOHWQUEUE {
    D3DKMT_HANDLE hHwQueue;
    UINT ObjectCount;
    D3DKMT_PTR(const D3DKMT_HANDLE*, ObjectHandleArray);
    D3DKMT_PTR(const UINT64*, FenceValueArray);
} D3DKMT_SUBMITWAITFORSYNCOBJECTSTOHWQUEUE;

typedef struct _D3DKMT_SUBMITSIGNALSYNCOBJECTSTOHWQUEUE {
    D3DDDICB_SIGNALFLAGS Flags;
    ULONG BroadcastHwQueueCount;
    D3DKMT_PTR(const D3DKMT_HANDLE*, BroadcastHwQueueArray);
    UINT ObjectCount;
    D3DKMT_PTR(const D3DKMT_HANDLE*, ObjectHandleArray);
    D3DKMT_PTR(const UINT64*, FenceValueArray);
} D3DKMT_SUBMITSIGNALSYNCOBJECTSTOHWQUEUE;

typedef struct _D3DKMT_QUERYVIDEOMEMORYINFO {
    D3DKMT_PTR(HANDLE, hProcess);
    D3DKMT_HANDLE hAdapter;
    D3DKMT_MEMORY_SEGMENT_GROUP MemorySegmentGroup;
    D3DKMT_ALIGN64 UINT64 Budget;
    D3DKMT_ALIGN64 UINT64 CurrentUsage;
    D3DKMT_ALIGN64 UINT64 CurrentReservation;
    D3DKMT_ALIGN64 UINT64 AvailableForReservation;
    UINT PhysicalAdapterIndex;
} D3DKMT_QUERYVIDEOMEMORYINFO;

typedef struct _D3DKMT_CHANGEVIDEOMMEMORYRESERVATION {
    D3DKMT_PTR(HANDLE, hProcess);
    D3DKMT_HANDLE hAdapter;
    D3DKMT_MEMORY_SEGMENT_GROUP MemorySegmentGroup;
    D3DKMT_ALIGN64 UINT64 Reservation;
    UINT PhysicalAdapterIndex;
} D3DKMT_CHANGEVIDEOMEMORYRESERVATION;

typedef struct _D3DKMT_SETSTABLEPOWERSTATE {
    D3DKMT_HANDLE hAdapter;
    BOOL Enabled;
} D3DKMT_SETSTABLEPOWERSTATE;

/* The argument block of the Linux ShareObjects ioctl (D3DKMTShareObjects packs its arguments
 * into it). */
typedef struct _D3DKMT_SHAREOBJECTS {
    UINT ObjectCount;
    D3DKMT_PTR(CONST D3DKMT_HANDLE*, ObjectHandleArray);
    D3DKMT_PTR(PVOID, pObjectAttributes);
    DWORD DesiredAccess;
    D3DKMT_PTR(HANDLE*, pSharedNtHandle);
} D3DKMT_SHAREOBJECTS;

typedef struct _D3DKMT_SHAREOBJECTWITHHOST {
    D3DKMT_HANDLE hDevice;
    D3DKMT_HANDLE hObject;
    D3DKMT_ALIGN64 UINT64 Reserved;
    D3DKMT_ALIGN64 UINT64 hVailProcessNtHandle;
} D3DKMT_SHAREOBJECTWITHHOST;

typedef struct _D3DKMT_CREATESYNCFILE {
    D3DKMT_HANDLE hDevice;
    D3DKMT_HANDLE hMonitoredFence;
    D3DKMT_ALIGN64 UINT64 FenceValue;
    D3DKMT_ALIGN64 UINT64 hSyncFile;
} D3DKMT_CREATESYNCFILE;

typedef enum _D3DKMT_DEVICE_ERROR_REASON {
    D3DKMT_DEVICE_ERROR_REASON_GENERIC = 0x80000000,
    D3DKMT_DEVICE_ERROR_REASON_DRIVER_ERROR = 0x80000006,
} D3DKMT_DEVICE_ERROR_REASON;

typedef struct _D3DKMT_MARKDEVICEASERROR {
    D3DKMT_HANDLE hDevice;
    D3DKMT_DEVICE_ERROR_REASON Reason;
} D3DKMT_MARKDEVICEASERROR;

typedef struct _D3DKMT_FLUSHHEAPTRANSITIONS {
    D3DKMT_HANDLE hAdapter;
} D3DKMT_FLUSHHEAPTRANSITIONS;

typedef struct _D3DKMT_CREATEHWCONTEXT {
    D3DKMT_HANDLE hDevice;
    UINT NodeOrdinal;
    UINT EngineAffinity;
    D3DDDI_CREATEHWCONTEXTFLAGS Flags;
    UINT PrivateDriverDataSize;
    D3DKMT_PTR(VOID*, pPrivateDriverData);
    D3DKMT_HANDLE hHwContext;
} D3DKMT_CREATEHWCONTEXT;

typedef struct _D3DKMT_DESTROYHWCONTEXT {
    D3DKMT_HANDLE hHwContext;
} D3DKMT_DESTROYHWCONTEXT;

typedef struct _D3DKMT_CREATEHWQUEUE {
    D3DKMT_HANDLE hHwContext;
    D3DDDI_CREATEHWQUEUEFLAGS Flags;
    UINT PrivateDriverDataSize;
    D3DKMT_PTR(VOID*, pPrivateDriverData);
    D3DKMT_HANDLE hHwQueue;
    D3DKMT_HANDLE hHwQueueProgressFence;
    D3DKMT_PTR(VOID*, HwQueueProgressFenceCPUVirtualAddress);
    D3DKMT_ALIGN64 D3DGPU_VIRTUAL_ADDRESS HwQueueProgressFenceGPUVirtualAddress;
} D3DKMT_CREATEHWQUEUE;

typedef struct _D3DKMT_DESTROYHWQUEUE {
    D3DKMT_HANDLE hHwQueue;
} D3DKMT_DESTROYHWQUEUE;

typedef struct _D3DKMT_GETALLOCATIONPRIORITY {
    D3DKMT_HANDLE hDevice;
    D3DKMT_HANDLE hResource;
    D3DKMT_PTR(CONST D3DKMT_HANDLE*, phAllocationList);
    UINT AllocationCount;
    D3DKMT_PTR(UINT*, pPriorities);
} D3DKMT_GETALLOCATIONPRIORITY;

/* ---------------------------------------------------------------------------------------------
 * Protected sessions and tracked workloads (the calls answer STATUS_NOT_SUPPORTED, as in libdxg).
 * ------------------------------------------------------------------------------------------- */
typedef struct _D3DKMT_CREATEPROTECTEDSESSION {
    D3DKMT_HANDLE hDevice;
    D3DKMT_HANDLE hSyncObject;
    D3DKMT_PTR(CONST VOID*, pPrivateDriverData);
    UINT PrivateDriverDataSize;
    D3DKMT_PTR(CONST VOID*, pPrivateRuntimeData);
    UINT PrivateRuntimeDataSize;
    D3DKMT_HANDLE hHandle;
} D3DKMT_CREATEPROTECTEDSESSION;

typedef struct _D3DKMT_DESTROYPROTECTEDSESSION {
    D3DKMT_HANDLE hHandle;
} D3DKMT_DESTROYPROTECTEDSESSION;

typedef enum _D3DKMT_PROTECTED_SESSION_STATUS {
    D3DKMT_PROTECTED_SESSION_STATUS_OK = 0,
    D3DKMT_PROTECTED_SESSION_STATUS_INVALID = 1,
} D3DKMT_PROTECTED_SESSION_STATUS;

typedef struct _D3DKMT_QUERYPROTECTEDSESSIONSTATUS {
    D3DKMT_HANDLE hHandle;
    D3DKMT_PROTECTED_SESSION_STATUS Status;
} D3DKMT_QUERYPROTECTEDSESSIONSTATUS;

typedef struct _D3DKMT_QUERYPROTECTEDSESSIONINFOFROMNTHANDLE {
    D3DKMT_PTR(HANDLE, hNtHandle);
    D3DKMT_PTR(CONST VOID*, pPrivateDriverData);
    UINT PrivateDriverDataSize;
    D3DKMT_PTR(CONST VOID*, pPrivateRuntimeData);
    UINT PrivateRuntimeDataSize;
} D3DKMT_QUERYPROTECTEDSESSIONINFOFROMNTHANDLE;

typedef struct _D3DKMT_OPENPROTECTEDSESSIONFROMNTHANDLE {
    D3DKMT_PTR(HANDLE, hNtHandle);
    D3DKMT_HANDLE hHandle;
} D3DKMT_OPENPROTECTEDSESSIONFROMNTHANDLE;

typedef enum _D3DKMT_TRACKEDWORKLOADPOLICY {
    D3DKMT_TRACKEDWORKLOADPOLICY_NORMAL = 0,
    D3DKMT_TRACKEDWORKLOADPOLICY_ENERGY_EFFICIENT = 1,
    D3DKMT_TRACKEDWORKLOADPOLICY_HIGH_SPEED = 2
} D3DKMT_TRACKEDWORKLOADPOLICY;

typedef enum _D3DKMT_TRACKEDWORKLOADDEADLINETYPE {
    D3DKMT_TRACKEDWORKLOADDEADLINETYPE_ABSOLUTE = 0,
    D3DKMT_TRACKEDWORKLOADDEADLINETYPE_VBLANK = 1,
} D3DKMT_TRACKEDWORKLOADDEADLINETYPE;

typedef struct _D3DKMT_TRACKEDWORKLOADDEADLINE {
    union {
        D3DKMT_ALIGN64 UINT64 VBlankOffsetHundredsNS;
        D3DKMT_ALIGN64 UINT64 AbsoluteQPC;
    };
} D3DKMT_TRACKEDWORKLOADDEADLINE;

typedef struct _D3DKMT_TRACKEDWORKLOADFLAGS {
    union {
        struct {
            UINT Periodic : 1;
            UINT SimilarLoad : 1;
            UINT Reserved : 30;
        };
        UINT Value;
    };
} D3DKMT_TRACKEDWORKLOADFLAGS;

#define D3DKMT_MAX_TRACKED_WORKLOAD_INSTANCE_PAIRS 32

typedef struct _D3DKMT_CREATETRACKEDWORKLOAD {
    ULONG cbSize;
    ULONG ContextCount;
    D3DKMT_PTR(const D3DKMT_HANDLE*, ContextArray);
    D3DKMT_TRACKEDWORKLOADDEADLINETYPE DeadlineType;
    UINT32 VidPnTargetId;
    D3DKMT_TRACKEDWORKLOADFLAGS Flags;
    D3DKMT_TRACKEDWORKLOADPOLICY Policy;
    UINT MaxInstances;
    UINT MaxInstancePairs;
    D3DKMT_HANDLE hResourceQueryTimestamps;
    D3DKMT_HANDLE hTrackedWorkload;
} D3DKMT_CREATETRACKEDWORKLOAD;

typedef struct _D3DKMT_DESTROYTRACKEDWORKLOAD {
    ULONG cbSize;
    D3DKMT_HANDLE hTrackedWorkload;
} D3DKMT_DESTROYTRACKEDWORKLOAD;

typedef struct _D3DKMT_UPDATETRACKEDWORKLOAD {
    ULONG cbSize;
    D3DKMT_HANDLE hTrackedWorkload;
    D3DKMT_TRACKEDWORKLOADDEADLINE FinishDeadline;
    UINT BeginTrackedWorkloadIndex;
    UINT EndTrackedWorkloadIndex;
    BOOL Resume;
    BOOL Suspend;
    D3DKMT_ALIGN64 UINT64 PairID;
    D3DKMT_ALIGN64 UINT64 FenceSubmissionValue;
    D3DKMT_ALIGN64 UINT64 FenceCompletedValue;
    D3DKMT_ALIGN64 UINT64 GPUTimestampFrequency;
    D3DKMT_ALIGN64 UINT64 GPUCalibrationTimestamp;
    D3DKMT_ALIGN64 UINT64 CPUCalibrationTimestamp;
    D3DKMT_ALIGN64 UINT64 TimestampArray[D3DKMT_MAX_TRACKED_WORKLOAD_INSTANCE_PAIRS * 2];
    BOOL TimestampArrayProcessed;
} D3DKMT_UPDATETRACKEDWORKLOAD;

typedef struct _D3DKMT_GETAVAILABLETRACKEDWORKLOADINDEX {
    ULONG cbSize;
    D3DKMT_HANDLE hTrackedWorkload;
    D3DKMT_ALIGN64 UINT64 FenceCompletedValue;
    D3DKMT_ALIGN64 UINT64 TimestampArray[D3DKMT_MAX_TRACKED_WORKLOAD_INSTANCE_PAIRS * 2];
    UINT AvailableTrackedWorkloadIndex;
    BOOL TimestampArrayProcessed;
} D3DKMT_GETAVAILABLETRACKEDWORKLOADINDEX;

typedef struct _D3DKMT_TRACKEDWORKLOADSTATEFLAGS {
    union {
        struct {
            UINT Saturated : 1;
            UINT NotEnoughSamples : 1;
            UINT Reserved : 30;
        };
        UINT Value;
    };
} D3DKMT_TRACKEDWORKLOADSTATEFLAGS;

typedef struct _D3DKMT_TRACKEDWORKLOAD_STATISTICS {
    D3DKMT_ALIGN64 INT64 Mean;
    D3DKMT_ALIGN64 INT64 Minimum;
    D3DKMT_ALIGN64 INT64 Maximum;
    D3DKMT_ALIGN64 INT64 Variance;
    D3DKMT_ALIGN64 UINT64 Count;
} D3DKMT_TRACKEDWORKLOAD_STATISTICS;

typedef struct _D3DKMT_GETTRACKEDWORKLOADSTATISTICS {
    ULONG cbSize;
    D3DKMT_HANDLE hTrackedWorkload;
    D3DKMT_ALIGN64 UINT64 FenceCompletedValue;
    D3DKMT_ALIGN64 UINT64 TimestampArray[D3DKMT_MAX_TRACKED_WORKLOAD_INSTANCE_PAIRS * 2];
    BOOL TimestampArrayProcessed;
    D3DKMT_TRACKEDWORKLOAD_STATISTICS DeadlineOffsetHundredsNS;
    D3DKMT_ALIGN64 UINT64 MissedDeadlines;
    D3DKMT_TRACKEDWORKLOADSTATEFLAGS Flags;
} D3DKMT_GETTRACKEDWORKLOADSTATISTICS;

typedef struct _D3DKMT_RESETTRACKEDWORKLOADSTATISTICS {
    ULONG cbSize;
    D3DKMT_HANDLE hTrackedWorkload;
} D3DKMT_RESETTRACKEDWORKLOADSTATISTICS;

/* ---------------------------------------------------------------------------------------------
 * Layouts that depend on the WCHAR mode (x86-64; the host always writes UTF-16).
 * ------------------------------------------------------------------------------------------- */
#if DXGOS_D3DKMT_WINADAPTER
DXGOS_D3DKMT_STATIC_ASSERT(sizeof(WCHAR) == 4, "winadapter.h: WCHAR is wchar_t");
DXGOS_D3DKMT_STATIC_ASSERT(sizeof(D3DKMT_DRIVER_DESCRIPTION) == 16384, "D3DKMT_DRIVER_DESCRIPTION (wchar_t)");
DXGOS_D3DKMT_STATIC_ASSERT(sizeof(D3DKMT_ADAPTERREGISTRYINFO) == 4160, "D3DKMT_ADAPTERREGISTRYINFO (wchar_t)");
DXGOS_D3DKMT_STATIC_ASSERT(sizeof(D3DKMT_UMDFILENAMEINFO) == 1044, "D3DKMT_UMDFILENAMEINFO (wchar_t)");
DXGOS_D3DKMT_STATIC_ASSERT(sizeof(D3DKMT_GPUVERSION) == 260, "D3DKMT_GPUVERSION (wchar_t)");
#else
DXGOS_D3DKMT_STATIC_ASSERT(sizeof(WCHAR) == 2, "standalone: WCHAR is a UTF-16 code unit");
DXGOS_D3DKMT_STATIC_ASSERT(sizeof(D3DKMT_DRIVER_DESCRIPTION) == 8192, "D3DKMT_DRIVER_DESCRIPTION (UTF-16)");
DXGOS_D3DKMT_STATIC_ASSERT(sizeof(D3DKMT_ADAPTERREGISTRYINFO) == 2080, "D3DKMT_ADAPTERREGISTRYINFO (UTF-16)");
DXGOS_D3DKMT_STATIC_ASSERT(sizeof(D3DKMT_UMDFILENAMEINFO) == 524, "D3DKMT_UMDFILENAMEINFO (UTF-16)");
DXGOS_D3DKMT_STATIC_ASSERT(sizeof(D3DKMT_GPUVERSION) == 132, "D3DKMT_GPUVERSION (UTF-16)");
#endif
/* The query statistics result union keeps its size in both modes (its largest member holds no
 * WCHAR). */
DXGOS_D3DKMT_STATIC_ASSERT(sizeof(D3DKMT_QUERYSTATISTICS_RESULT) == 0x308, "D3DKMT_QUERYSTATISTICS_RESULT");
DXGOS_D3DKMT_STATIC_ASSERT(sizeof(D3DKMT_QUERYSTATISTICS) == 0x328, "D3DKMT_QUERYSTATISTICS");

/* ---------------------------------------------------------------------------------------------
 * Function pointer types (PFND3DKMT_*).
 * ------------------------------------------------------------------------------------------- */
typedef NTSTATUS (APIENTRY *PFND3DKMT_CREATEALLOCATION2)(D3DKMT_CREATEALLOCATION*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_QUERYRESOURCEINFO)(D3DKMT_QUERYRESOURCEINFO*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_QUERYRESOURCEINFOFROMNTHANDLE)(D3DKMT_QUERYRESOURCEINFOFROMNTHANDLE*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_SHAREOBJECTS)(UINT cObjects, CONST D3DKMT_HANDLE* hObjects, POBJECT_ATTRIBUTES pObjectAttributes, DWORD dwDesiredAccess, HANDLE* phSharedNtHandle);
typedef NTSTATUS (APIENTRY *PFND3DKMT_OPENNTHANDLEFROMNAME)(D3DKMT_OPENNTHANDLEFROMNAME*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_OPENRESOURCEFROMNTHANDLE)(D3DKMT_OPENRESOURCEFROMNTHANDLE*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_OPENRESOURCE)(D3DKMT_OPENRESOURCE*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_OPENRESOURCE2)(D3DKMT_OPENRESOURCE*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_DESTROYALLOCATION)(CONST D3DKMT_DESTROYALLOCATION*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_DESTROYALLOCATION2)(CONST D3DKMT_DESTROYALLOCATION2*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_SETALLOCATIONPRIORITY)(CONST D3DKMT_SETALLOCATIONPRIORITY*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_QUERYALLOCATIONRESIDENCY)(CONST D3DKMT_QUERYALLOCATIONRESIDENCY*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_CREATEDEVICE)(D3DKMT_CREATEDEVICE*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_DESTROYDEVICE)(CONST D3DKMT_DESTROYDEVICE*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_CREATECONTEXT)(D3DKMT_CREATECONTEXT*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_DESTROYCONTEXT)(CONST D3DKMT_DESTROYCONTEXT*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_CREATESYNCHRONIZATIONOBJECT)(D3DKMT_CREATESYNCHRONIZATIONOBJECT*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_CREATESYNCHRONIZATIONOBJECT2)(D3DKMT_CREATESYNCHRONIZATIONOBJECT2*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_OPENSYNCHRONIZATIONOBJECT)(D3DKMT_OPENSYNCHRONIZATIONOBJECT*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_DESTROYSYNCHRONIZATIONOBJECT)(CONST D3DKMT_DESTROYSYNCHRONIZATIONOBJECT*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_WAITFORSYNCHRONIZATIONOBJECT)(CONST D3DKMT_WAITFORSYNCHRONIZATIONOBJECT*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_WAITFORSYNCHRONIZATIONOBJECT2)(CONST D3DKMT_WAITFORSYNCHRONIZATIONOBJECT2*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_SIGNALSYNCHRONIZATIONOBJECT)(CONST D3DKMT_SIGNALSYNCHRONIZATIONOBJECT*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_SIGNALSYNCHRONIZATIONOBJECT2)(CONST D3DKMT_SIGNALSYNCHRONIZATIONOBJECT2*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_LOCK)(D3DKMT_LOCK*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_UNLOCK)(CONST D3DKMT_UNLOCK*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_GETMULTISAMPLEMETHODLIST)(D3DKMT_GETMULTISAMPLEMETHODLIST*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_PRESENT)(D3DKMT_PRESENT*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_RENDER)(D3DKMT_RENDER*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_QUERYADAPTERINFO)(CONST D3DKMT_QUERYADAPTERINFO*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_CLOSEADAPTER)(CONST D3DKMT_CLOSEADAPTER*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_ESCAPE)(CONST D3DKMT_ESCAPE*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_QUERYSTATISTICS)(CONST D3DKMT_QUERYSTATISTICS*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_GETDEVICESTATE)(D3DKMT_GETDEVICESTATE*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_SETCONTEXTSCHEDULINGPRIORITY)(CONST D3DKMT_SETCONTEXTSCHEDULINGPRIORITY*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_GETCONTEXTSCHEDULINGPRIORITY)(D3DKMT_GETCONTEXTSCHEDULINGPRIORITY*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_SETQUEUEDLIMIT)(CONST D3DKMT_SETQUEUEDLIMIT*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_SETDISPLAYPRIVATEDRIVERFORMAT)(CONST D3DKMT_SETDISPLAYPRIVATEDRIVERFORMAT*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_DESTROYKEYEDMUTEX)(CONST D3DKMT_DESTROYKEYEDMUTEX*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_CREATEKEYEDMUTEX2)(D3DKMT_CREATEKEYEDMUTEX2*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_OPENKEYEDMUTEX2)(D3DKMT_OPENKEYEDMUTEX2*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_ACQUIREKEYEDMUTEX2)(D3DKMT_ACQUIREKEYEDMUTEX2*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_RELEASEKEYEDMUTEX2)(D3DKMT_RELEASEKEYEDMUTEX2*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_OFFERALLOCATIONS)(CONST D3DKMT_OFFERALLOCATIONS*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_ENUMADAPTERS2)(CONST D3DKMT_ENUMADAPTERS2*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_OPENADAPTERFROMLUID)(D3DKMT_OPENADAPTERFROMLUID*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_SETCONTEXTINPROCESSSCHEDULINGPRIORITY)(CONST D3DKMT_SETCONTEXTINPROCESSSCHEDULINGPRIORITY*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_GETCONTEXTINPROCESSSCHEDULINGPRIORITY)(D3DKMT_GETCONTEXTINPROCESSSCHEDULINGPRIORITY*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_GETSHAREDRESOURCEADAPTERLUID)(D3DKMT_GETSHAREDRESOURCEADAPTERLUID*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_MAKERESIDENT)(D3DDDI_MAKERESIDENT*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_EVICT)(D3DKMT_EVICT*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMCPU)(CONST D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMCPU*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMCPU)(CONST D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMCPU*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMGPU)(CONST D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMGPU*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU)(CONST D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU2)(CONST D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU2*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_CREATEPAGINGQUEUE)(D3DKMT_CREATEPAGINGQUEUE*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_DESTROYPAGINGQUEUE)(D3DDDI_DESTROYPAGINGQUEUE*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_LOCK2)(D3DKMT_LOCK2*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_UNLOCK2)(CONST D3DKMT_UNLOCK2*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_INVALIDATECACHE)(CONST D3DKMT_INVALIDATECACHE*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_RESERVEGPUVIRTUALADDRESS)(D3DDDI_RESERVEGPUVIRTUALADDRESS*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_MAPGPUVIRTUALADDRESS)(D3DDDI_MAPGPUVIRTUALADDRESS*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_FREEGPUVIRTUALADDRESS)(CONST D3DKMT_FREEGPUVIRTUALADDRESS*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_UPDATEGPUVIRTUALADDRESS)(CONST D3DKMT_UPDATEGPUVIRTUALADDRESS*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_CREATECONTEXTVIRTUAL)(D3DKMT_CREATECONTEXTVIRTUAL*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_SUBMITCOMMAND)(CONST D3DKMT_SUBMITCOMMAND*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_OPENSYNCOBJECTFROMNTHANDLE2)(D3DKMT_OPENSYNCOBJECTFROMNTHANDLE2*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_OPENSYNCOBJECTNTHANDLEFROMNAME)(D3DKMT_OPENSYNCOBJECTNTHANDLEFROMNAME*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_QUERYVIDEOMEMORYINFO)(D3DKMT_QUERYVIDEOMEMORYINFO*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_CHANGEVIDEOMEMORYRESERVATION)(CONST D3DKMT_CHANGEVIDEOMEMORYRESERVATION*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_RECLAIMALLOCATIONS2)(D3DKMT_RECLAIMALLOCATIONS2*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_SETSTABLEPOWERSTATE)(CONST D3DKMT_SETSTABLEPOWERSTATE*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_QUERYCLOCKCALIBRATION)(D3DKMT_QUERYCLOCKCALIBRATION*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_MARKDEVICEASERROR)(D3DKMT_MARKDEVICEASERROR*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_FLUSHHEAPTRANSITIONS)(D3DKMT_FLUSHHEAPTRANSITIONS*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_UPDATEALLOCATIONPROPERTY)(D3DDDI_UPDATEALLOCPROPERTY*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_GETALLOCATIONPRIORITY)(CONST D3DKMT_GETALLOCATIONPRIORITY*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_CREATEPROTECTEDSESSION)(D3DKMT_CREATEPROTECTEDSESSION*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_DESTROYPROTECTEDSESSION)(D3DKMT_DESTROYPROTECTEDSESSION*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_QUERYPROTECTEDSESSIONSTATUS)(D3DKMT_QUERYPROTECTEDSESSIONSTATUS*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_QUERYPROTECTEDSESSIONINFOFROMNTHANDLE)(D3DKMT_QUERYPROTECTEDSESSIONINFOFROMNTHANDLE*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_OPENPROTECTEDSESSIONFROMNTHANDLE)(D3DKMT_OPENPROTECTEDSESSIONFROMNTHANDLE*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_CREATEHWQUEUE)(D3DKMT_CREATEHWQUEUE*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_DESTROYHWQUEUE)(CONST D3DKMT_DESTROYHWQUEUE*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_SUBMITCOMMANDTOHWQUEUE)(CONST D3DKMT_SUBMITCOMMANDTOHWQUEUE*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_SUBMITWAITFORSYNCOBJECTSTOHWQUEUE)(CONST D3DKMT_SUBMITWAITFORSYNCOBJECTSTOHWQUEUE*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_SUBMITSIGNALSYNCOBJECTSTOHWQUEUE)(CONST D3DKMT_SUBMITSIGNALSYNCOBJECTSTOHWQUEUE*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_SUBMITPRESENTTOHWQUEUE)(D3DKMT_SUBMITPRESENTTOHWQUEUE*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_ENUMADAPTERS3)(D3DKMT_ENUMADAPTERS3*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_PINRESOURCES)(D3DKMT_PINRESOURCES*);
typedef NTSTATUS (APIENTRY *PFND3DKMT_UNPINRESOURCES)(CONST D3DKMT_UNPINRESOURCES*);

/* ---------------------------------------------------------------------------------------------
 * Entry points. Each forwards its argument struct to the dxgos kernel (one system call), except
 * those marked otherwise. The signatures are Microsoft's.
 * ------------------------------------------------------------------------------------------- */
#ifdef __cplusplus
extern "C" {
#endif

NTSTATUS APIENTRY D3DKMTEnumAdapters2(CONST D3DKMT_ENUMADAPTERS2*);
NTSTATUS APIENTRY D3DKMTEnumAdapters3(D3DKMT_ENUMADAPTERS3*);
NTSTATUS APIENTRY D3DKMTOpenAdapterFromLuid(CONST D3DKMT_OPENADAPTERFROMLUID*);
NTSTATUS APIENTRY D3DKMTCloseAdapter(CONST D3DKMT_CLOSEADAPTER*);
NTSTATUS APIENTRY D3DKMTQueryAdapterInfo(CONST D3DKMT_QUERYADAPTERINFO*);
NTSTATUS APIENTRY D3DKMTQueryStatistics(CONST D3DKMT_QUERYSTATISTICS*);
NTSTATUS APIENTRY D3DKMTQueryClockCalibration(D3DKMT_QUERYCLOCKCALIBRATION*);
NTSTATUS APIENTRY D3DKMTQueryVideoMemoryInfo(D3DKMT_QUERYVIDEOMEMORYINFO*);
NTSTATUS APIENTRY D3DKMTChangeVideoMemoryReservation(CONST D3DKMT_CHANGEVIDEOMEMORYRESERVATION*);
NTSTATUS APIENTRY D3DKMTEscape(CONST D3DKMT_ESCAPE*);
NTSTATUS APIENTRY D3DKMTFlushHeapTransitions(D3DKMT_FLUSHHEAPTRANSITIONS*);
NTSTATUS APIENTRY D3DKMTCreateDevice(D3DKMT_CREATEDEVICE*);
NTSTATUS APIENTRY D3DKMTDestroyDevice(CONST D3DKMT_DESTROYDEVICE*);
NTSTATUS APIENTRY D3DKMTGetDeviceState(D3DKMT_GETDEVICESTATE*);
NTSTATUS APIENTRY D3DKMTMarkDeviceAsError(D3DKMT_MARKDEVICEASERROR*);
NTSTATUS APIENTRY D3DKMTCreateContext(D3DKMT_CREATECONTEXT*);
NTSTATUS APIENTRY D3DKMTCreateContextVirtual(D3DKMT_CREATECONTEXTVIRTUAL*);
NTSTATUS APIENTRY D3DKMTDestroyContext(CONST D3DKMT_DESTROYCONTEXT*);
NTSTATUS APIENTRY D3DKMTSetContextSchedulingPriority(CONST D3DKMT_SETCONTEXTSCHEDULINGPRIORITY*);
NTSTATUS APIENTRY D3DKMTGetContextSchedulingPriority(D3DKMT_GETCONTEXTSCHEDULINGPRIORITY*);
NTSTATUS APIENTRY D3DKMTSetContextInProcessSchedulingPriority(CONST D3DKMT_SETCONTEXTINPROCESSSCHEDULINGPRIORITY*);
NTSTATUS APIENTRY D3DKMTGetContextInProcessSchedulingPriority(D3DKMT_GETCONTEXTINPROCESSSCHEDULINGPRIORITY*);
NTSTATUS APIENTRY D3DKMTCreateHwContext(D3DKMT_CREATEHWCONTEXT*);
NTSTATUS APIENTRY D3DKMTDestroyHwContext(CONST D3DKMT_DESTROYHWCONTEXT*);
NTSTATUS APIENTRY D3DKMTCreateHwQueue(D3DKMT_CREATEHWQUEUE*);
NTSTATUS APIENTRY D3DKMTDestroyHwQueue(CONST D3DKMT_DESTROYHWQUEUE*);
NTSTATUS APIENTRY D3DKMTSubmitCommandToHwQueue(CONST D3DKMT_SUBMITCOMMANDTOHWQUEUE*);
NTSTATUS APIENTRY D3DKMTSubmitWaitForSyncObjectsToHwQueue(CONST D3DKMT_SUBMITWAITFORSYNCOBJECTSTOHWQUEUE*);
NTSTATUS APIENTRY D3DKMTSubmitSignalSyncObjectsToHwQueue(CONST D3DKMT_SUBMITSIGNALSYNCOBJECTSTOHWQUEUE*);
NTSTATUS APIENTRY D3DKMTCreatePagingQueue(D3DKMT_CREATEPAGINGQUEUE*);
NTSTATUS APIENTRY D3DKMTDestroyPagingQueue(D3DDDI_DESTROYPAGINGQUEUE*);
NTSTATUS APIENTRY D3DKMTCreateAllocation2(D3DKMT_CREATEALLOCATION*);
NTSTATUS APIENTRY D3DKMTDestroyAllocation2(CONST D3DKMT_DESTROYALLOCATION2*);
NTSTATUS APIENTRY D3DKMTLock2(D3DKMT_LOCK2*);
NTSTATUS APIENTRY D3DKMTUnlock2(CONST D3DKMT_UNLOCK2*);
NTSTATUS APIENTRY D3DKMTInvalidateCache(CONST D3DKMT_INVALIDATECACHE*);
NTSTATUS APIENTRY D3DKMTMakeResident(D3DDDI_MAKERESIDENT*);
NTSTATUS APIENTRY D3DKMTEvict(D3DKMT_EVICT*);
NTSTATUS APIENTRY D3DKMTOfferAllocations(CONST D3DKMT_OFFERALLOCATIONS*);
NTSTATUS APIENTRY D3DKMTReclaimAllocations2(D3DKMT_RECLAIMALLOCATIONS2*);
NTSTATUS APIENTRY D3DKMTSetAllocationPriority(CONST D3DKMT_SETALLOCATIONPRIORITY*);
NTSTATUS APIENTRY D3DKMTGetAllocationPriority(CONST D3DKMT_GETALLOCATIONPRIORITY*);
NTSTATUS APIENTRY D3DKMTQueryAllocationResidency(CONST D3DKMT_QUERYALLOCATIONRESIDENCY*);
NTSTATUS APIENTRY D3DKMTUpdateAllocationProperty(D3DDDI_UPDATEALLOCPROPERTY*);
NTSTATUS APIENTRY D3DKMTReserveGpuVirtualAddress(D3DDDI_RESERVEGPUVIRTUALADDRESS*);
NTSTATUS APIENTRY D3DKMTMapGpuVirtualAddress(D3DDDI_MAPGPUVIRTUALADDRESS*);
NTSTATUS APIENTRY D3DKMTFreeGpuVirtualAddress(CONST D3DKMT_FREEGPUVIRTUALADDRESS*);
NTSTATUS APIENTRY D3DKMTUpdateGpuVirtualAddress(CONST D3DKMT_UPDATEGPUVIRTUALADDRESS*);
NTSTATUS APIENTRY D3DKMTSubmitCommand(CONST D3DKMT_SUBMITCOMMAND*);
NTSTATUS APIENTRY D3DKMTRender(D3DKMT_RENDER*);
NTSTATUS APIENTRY D3DKMTCreateSynchronizationObject2(D3DKMT_CREATESYNCHRONIZATIONOBJECT2*);
NTSTATUS APIENTRY D3DKMTOpenSynchronizationObject(D3DKMT_OPENSYNCHRONIZATIONOBJECT*);
NTSTATUS APIENTRY D3DKMTDestroySynchronizationObject(CONST D3DKMT_DESTROYSYNCHRONIZATIONOBJECT*);
NTSTATUS APIENTRY D3DKMTWaitForSynchronizationObject2(CONST D3DKMT_WAITFORSYNCHRONIZATIONOBJECT2*);
NTSTATUS APIENTRY D3DKMTSignalSynchronizationObject2(CONST D3DKMT_SIGNALSYNCHRONIZATIONOBJECT2*);
NTSTATUS APIENTRY D3DKMTWaitForSynchronizationObjectFromCpu(CONST D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMCPU*);
NTSTATUS APIENTRY D3DKMTSignalSynchronizationObjectFromCpu(CONST D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMCPU*);
NTSTATUS APIENTRY D3DKMTWaitForSynchronizationObjectFromGpu(CONST D3DKMT_WAITFORSYNCHRONIZATIONOBJECTFROMGPU*);
NTSTATUS APIENTRY D3DKMTSignalSynchronizationObjectFromGpu(CONST D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU*);
NTSTATUS APIENTRY D3DKMTSignalSynchronizationObjectFromGpu2(CONST D3DKMT_SIGNALSYNCHRONIZATIONOBJECTFROMGPU2*);
NTSTATUS APIENTRY D3DKMTOpenResource2(D3DKMT_OPENRESOURCE*);
NTSTATUS APIENTRY D3DKMTQueryResourceInfo(D3DKMT_QUERYRESOURCEINFO*);
NTSTATUS APIENTRY D3DKMTQueryResourceInfoFromNtHandle(D3DKMT_QUERYRESOURCEINFOFROMNTHANDLE*);
NTSTATUS APIENTRY D3DKMTOpenResourceFromNtHandle(D3DKMT_OPENRESOURCEFROMNTHANDLE*);
NTSTATUS APIENTRY D3DKMTOpenSyncObjectFromNtHandle2(D3DKMT_OPENSYNCOBJECTFROMNTHANDLE2*);
NTSTATUS APIENTRY D3DKMTGetSharedResourceAdapterLuid(D3DKMT_GETSHAREDRESOURCEADAPTERLUID*);
NTSTATUS APIENTRY D3DKMTShareObjectWithHost(D3DKMT_SHAREOBJECTWITHHOST*);
NTSTATUS APIENTRY D3DKMTCreateSyncFile(D3DKMT_CREATESYNCFILE*);
/* Packs its arguments into D3DKMT_SHAREOBJECTS, as libdxg does. */
NTSTATUS APIENTRY D3DKMTShareObjects(UINT cObjects, CONST D3DKMT_HANDLE* hObjects, POBJECT_ATTRIBUTES pObjectAttributes, DWORD dwDesiredAccess, HANDLE* phSharedNtHandle);

/* libdxg's v1 entry points: converted to the v2 struct and sent as the v2 call. */
NTSTATUS APIENTRY D3DKMTOpenResource(D3DKMT_OPENRESOURCE*);
NTSTATUS APIENTRY D3DKMTDestroyAllocation(CONST D3DKMT_DESTROYALLOCATION*);
NTSTATUS APIENTRY D3DKMTCreateSynchronizationObject(D3DKMT_CREATESYNCHRONIZATIONOBJECT*);
NTSTATUS APIENTRY D3DKMTWaitForSynchronizationObject(CONST D3DKMT_WAITFORSYNCHRONIZATIONOBJECT*);
NTSTATUS APIENTRY D3DKMTSignalSynchronizationObject(CONST D3DKMT_SIGNALSYNCHRONIZATIONOBJECT*);

/* Succeeds without doing anything (as in libdxg). */
NTSTATUS APIENTRY D3DKMTSetStablePowerState(CONST D3DKMT_SETSTABLEPOWERSTATE*);
/* Does nothing: a dxgos process has no device file to close. */
VOID APIENTRY D3DKMTCloseDxCoreDevice(VOID);

/* Answer STATUS_NOT_SUPPORTED (as in libdxg). */
NTSTATUS APIENTRY D3DKMTGetMultisampleMethodList(D3DKMT_GETMULTISAMPLEMETHODLIST*);
NTSTATUS APIENTRY D3DKMTSetQueuedLimit(CONST D3DKMT_SETQUEUEDLIMIT*);
NTSTATUS APIENTRY D3DKMTOpenNtHandleFromName(D3DKMT_OPENNTHANDLEFROMNAME*);
NTSTATUS APIENTRY D3DKMTOpenSyncObjectNtHandleFromName(D3DKMT_OPENSYNCOBJECTNTHANDLEFROMNAME*);
NTSTATUS APIENTRY D3DKMTOpenProtectedSessionFromNtHandle(D3DKMT_OPENPROTECTEDSESSIONFROMNTHANDLE*);
NTSTATUS APIENTRY D3DKMTLock(D3DKMT_LOCK*);
NTSTATUS APIENTRY D3DKMTUnlock(CONST D3DKMT_UNLOCK*);
NTSTATUS APIENTRY D3DKMTSetDisplayPrivateDriverFormat(CONST D3DKMT_SETDISPLAYPRIVATEDRIVERFORMAT*);
NTSTATUS APIENTRY D3DKMTCreateProtectedSession(D3DKMT_CREATEPROTECTEDSESSION*);
NTSTATUS APIENTRY D3DKMTDestroyProtectedSession(D3DKMT_DESTROYPROTECTEDSESSION*);
NTSTATUS APIENTRY D3DKMTQueryProtectedSessionStatus(D3DKMT_QUERYPROTECTEDSESSIONSTATUS*);
NTSTATUS APIENTRY D3DKMTQueryProtectedSessionInfoFromNtHandle(D3DKMT_QUERYPROTECTEDSESSIONINFOFROMNTHANDLE*);
NTSTATUS APIENTRY D3DKMTCreateTrackedWorkload(D3DKMT_CREATETRACKEDWORKLOAD*);
NTSTATUS APIENTRY D3DKMTDestroyTrackedWorkload(D3DKMT_DESTROYTRACKEDWORKLOAD*);
NTSTATUS APIENTRY D3DKMTGetTrackedWorkloadStatistics(D3DKMT_GETTRACKEDWORKLOADSTATISTICS*);
NTSTATUS APIENTRY D3DKMTResetTrackedWorkloadStatistics(D3DKMT_RESETTRACKEDWORKLOADSTATISTICS*);
NTSTATUS APIENTRY D3DKMTUpdateTrackedWorkload(D3DKMT_UPDATETRACKEDWORKLOAD*);
NTSTATUS APIENTRY D3DKMTGetAvailableTrackedWorkloadIndex(D3DKMT_GETAVAILABLETRACKEDWORKLOADINDEX*);
NTSTATUS APIENTRY D3DKMTCreateKeyedMutex2(D3DKMT_CREATEKEYEDMUTEX2*);
NTSTATUS APIENTRY D3DKMTOpenKeyedMutex2(D3DKMT_OPENKEYEDMUTEX2*);
NTSTATUS APIENTRY D3DKMTDestroyKeyedMutex(CONST D3DKMT_DESTROYKEYEDMUTEX*);
NTSTATUS APIENTRY D3DKMTAcquireKeyedMutex2(D3DKMT_ACQUIREKEYEDMUTEX2*);
NTSTATUS APIENTRY D3DKMTReleaseKeyedMutex2(D3DKMT_RELEASEKEYEDMUTEX2*);
NTSTATUS APIENTRY D3DKMTPresent(D3DKMT_PRESENT*);
NTSTATUS APIENTRY D3DKMTSubmitPresentToHwQueue(D3DKMT_SUBMITPRESENTTOHWQUEUE*);
NTSTATUS APIENTRY D3DKMTPinResources(D3DKMT_PINRESOURCES*);
NTSTATUS APIENTRY D3DKMTUnpinResources(CONST D3DKMT_UNPINRESOURCES*);

#ifdef __cplusplus
}
#endif

#endif /* _D3DKMTHK_H_ */
