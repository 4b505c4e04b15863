/* Test fixture: a DSDT in the style of QEMU's q35 tables (revision 1: 32-bit integers), with
 * no VMBus device: PCI root with a _CRS method, processors, an ISA bridge, a GPE scope with
 * methods, packages, mutexes and an IndexField. */
DefinitionBlock ("qemu_like.aml", "DSDT", 1, "BOCHS ", "BXPC    ", 1)
{
    Scope (\_SB)
    {
        OperationRegion (PCST, SystemIO, 0xAE00, 0x08)
        Field (PCST, DWordAcc, NoLock, WriteAsZeros) { PCIU, 32, PCID, 32 }
        Device (PCI0)
        {
            Name (_HID, EisaId ("PNP0A08"))
            Name (_CID, EisaId ("PNP0A03"))
            Name (_ADR, Zero)
            Name (_UID, Zero)
            Method (_OSC, 4, NotSerialized)
            {
                CreateDWordField (Arg3, Zero, CDW1)
                If (LEqual (Arg0, ToUUID ("33db4d5b-1ff7-401c-9657-7441c03dd766")))
                {
                    CreateDWordField (Arg3, 0x04, CDW2)
                    CreateDWordField (Arg3, 0x08, CDW3)
                    Local0 = CDW3
                    Local0 &= 0x1F
                    CDW3 = Local0
                }
                Else { CDW1 |= 0x04 }
                Return (Arg3)
            }
            Name (CRS0, ResourceTemplate ()
            {
                WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0x0000, 0x0000, 0x00FF, 0x0000, 0x0100, , , )
                IO (Decode16, 0x0CF8, 0x0CF8, 0x01, 0x08, )
                DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite, 0x0, 0x000A0000, 0x000BFFFF, 0x0, 0x00020000, , , , AddressRangeMemory, TypeStatic)
                DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite, 0x0, 0x80000000, 0xAFFFFFFF, 0x0, 0x30000000, , , , AddressRangeMemory, TypeStatic)
            })
            Method (_CRS, 0, Serialized) { Return (CRS0) }
            Device (ISA)
            {
                Name (_ADR, 0x001F0000)
                OperationRegion (PIRQ, PCI_Config, 0x60, 0x0C)
                OperationRegion (LPCD, PCI_Config, 0x80, 0x02)
                Field (LPCD, AnyAcc, NoLock, Preserve) { COMA, 3, , 1, COMB, 3 }
                Device (COM1)
                {
                    Name (_HID, EisaId ("PNP0501"))
                    Name (_UID, One)
                    Name (_STA, 0x0F)
                    Name (_CRS, ResourceTemplate ()
                    {
                        IO (Decode16, 0x03F8, 0x03F8, 0x00, 0x08, )
                        IRQNoFlags () {4}
                    })
                }
            }
        }
        Device (HPET)
        {
            Name (_HID, EisaId ("PNP0103"))
            Name (_UID, Zero)
            OperationRegion (HPTM, SystemMemory, 0xFED00000, 0x0400)
            Field (HPTM, DWordAcc, Lock, Preserve) { VEND, 32, PRD, 32 }
            Method (_STA, 0, NotSerialized)
            {
                Local0 = VEND
                Local1 = PRD
                Local0 >>= 0x10
                If (((Local0 == Zero) || (Local0 == 0xFFFF))) { Return (Zero) }
                If (((Local1 == Zero) || (Local1 > 0x05F5E100))) { Return (Zero) }
                Return (0x0F)
            }
            Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadOnly, 0xFED00000, 0x00000400, ) })
        }
        Device (\_SB.CPUS)
        {
            Name (_HID, "ACPI0010")
            Name (_CID, EisaId ("PNP0A05"))
            Mutex (CPLK, 0x00)
            OperationRegion (PRST, SystemIO, 0x0CD8, 0x0C)
            IndexField (PCID, PCIU, ByteAcc, NoLock, Preserve) { Offset (0x04), CPEN, 1 }
            Method (CSCN, 0, Serialized)
            {
                Acquire (CPLK, 0xFFFF)
                Local0 = One
                While ((Local0 == One)) { Local0 = Zero }
                Release (CPLK)
            }
            Device (C000)
            {
                Name (_HID, "ACPI0007")
                Name (_UID, Zero)
                Method (_STA, 0, Serialized) { Return (0x0F) }
            }
        }
    }
    Scope (_GPE)
    {
        Name (_HID, "ACPI0006")
        Method (_E02, 0, NotSerialized) { \_SB.CPUS.CSCN () }
    }
    Name (_S3, Package (0x04) { One, One, Zero, Zero })
    Name (_S5, Package (0x04) { Zero, Zero, Zero, Zero })
}
