/* Test fixture: a DSDT shaped like the Hyper-V Gen2 firmware's (If-guarded _INI, VMBS inside
 * If (VCFG)), with the data block at the fixed address 0x7FFE0000. */
DefinitionBlock ("msvm_guarded.aml", "DSDT", 2, "MSFTVM", "DSDT01", 1)
{
    OperationRegion (BIOS, SystemMemory, 0x7FFE0000, 0xFF)
    Field (BIOS, ByteAcc, NoLock, Preserve)
    {
        MG2B, 32, MG2L, 32, HMIB, 32, HMIL, 32, GCAL, 32, GCAH, 32, PCNT, 32, NVDA, 32,
        SCFG, 8, TCFG, 8, PCFG, 8, HCFG, 8, NCFG, 8, BCFG, 8, SGXE, 8, PADE, 8, CCFG, 8,
        NCNT, 16, VCFG, 8, ICFG, 8
    }
    Name (\_S0, Package (2) { 0, 0 })
    Name (\_S5, Package (2) { 0, 0 })
    If (LGreater (HCFG, 0)) { Name (\_S4, Package (2) { 1, 0 }) }
    Scope (\_SB)
    {
        Method (_DSM, 4, NotSerialized)
        {
            If (LEqual (Arg0, ToUUID ("713E539D-E06E-4AE9-A75D-21EB34112B7E"))) { Return (Buffer () { 0x03 }) }
            Return (Buffer () { 0x00 })
        }
    }
    Device (\_SB.VMOD)
    {
        Name (_HID, "ACPI0004")
        Name (_UID, 0)
        Name (_CRS, ResourceTemplate ()
        {
            DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite, 0, 0, 0, 0, 0, , , MEM6)
            QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite, 0, 0, 0, 0, 0, , , MEM7)
        })
        CreateDWordField (_CRS, MEM6._MIN, MIN6)
        CreateDWordField (_CRS, MEM6._MAX, MAX6)
        CreateDWordField (_CRS, MEM6._LEN, LEN6)
        CreateQWordField (_CRS, MEM7._MIN, MIN7)
        CreateQWordField (_CRS, MEM7._MAX, MAX7)
        CreateQWordField (_CRS, MEM7._LEN, LEN7)
        Method (_INI, 0)
        {
            If (LGreater (MG2L, 0))
            {
                Store (MG2B, MIN6)
                Store (MG2L, LEN6)
                Store (MG2L, Local0)
                Add (MIN6, Decrement (Local0), MAX6)
            }
            If (LGreater (HMIL, 0))
            {
                ShiftLeft (HMIB, 20, Local1)
                ShiftLeft (HMIL, 20, Local2)
                Store (Local1, MIN7)
                Store (Local2, LEN7)
                Store (Local2, Local0)
                Add (MIN7, Decrement (Local0), MAX7)
            }
        }
    }
    Scope (\_SB)
    {
        OperationRegion (BIOB, SystemIO, 0x28, 0x8)
        Field (BIOB, DWordAcc, NoLock, Preserve) { BADR, 32, BDAT, 32 }
    }
    Device (\_SB.VMOD.APIC)
    {
        Name (_HID, EISAID ("PNP0003"))
        Name (_CRS, ResourceTemplate ()
        {
            Memory32Fixed (ReadWrite, 0xFEE00000, 0x1000)
            Memory32Fixed (ReadWrite, 0xFEC00000, 0x1000)
        })
    }
    If (LGreater (SCFG, 0))
    {
        Device (\_SB.UAR1)
        {
            Name (_HID, EISAID ("PNP0501"))
            Name (_DDN, "COM1")
            Name (_UID, 1)
            Name (_CRS, ResourceTemplate ()
            {
                IO (Decode16, 0x3F8, 0x3F8, 1, 8)
                Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { 4 }
            })
        }
    }
    If (LGreater (VCFG, 0))
    {
        Device (\_SB.VMOD.VMBS)
        {
            Name (STA, 0xF)
            Name (_ADR, 0x00)
            Name (_DDN, "VMBUS")
            Name (_HID, "MSFT1000")
            Name (_CID, "VMBus")
            Name (_UID, 0)
            Method (_DIS, 0) { And (STA, 0xD, STA) }
            Method (_PS0, 0) { Or (STA, 0xF, STA) }
            Method (_STA, 0) { Return (STA) }
            Method (_PS3, 0) { Return (STA) }
            Name (_CRS, ResourceTemplate () { IRQ (Edge, ActiveHigh, Exclusive) { 5 } })
        }
    }
    Scope (\_PR)
    {
        Processor (P000, 0x00, 0x00000000, 0x00) { }
    }
}
