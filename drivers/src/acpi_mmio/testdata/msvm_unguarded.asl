/* Test fixture: the newer firmware shape: _INI without If guards (a zero-length gap leaves
 * _MIN 0, _LEN 0 and _MAX 0xFFFFFFFF in the DWord descriptor) and VMBS unconditional.
 * Data block at 0x7FFE0000. */
DefinitionBlock ("msvm_unguarded.aml", "DSDT", 2, "MSFTVM", "DSDT01", 1)
{
    OperationRegion (BIOS, SystemMemory, 0x7FFE0000, 0xFF)
    Field (BIOS, ByteAcc, NoLock, Preserve)
    {
        MG2B, 32, MG2L, 32, HMIB, 32, HMIL, 32, GCAL, 32, GCAH, 32, PCNT, 32, NVDA, 32,
        SCFG, 8, TCFG, 8, PCFG, 8, HCFG, 8, NCFG, 8, BCFG, 8, SGXE, 8, PADE, 8, CCFG, 8,
        SINT, 8, NCNT, 16
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
            MIN6 = MG2B
            LEN6 = MG2L
            MAX6 = MIN6 + (MG2L - 1)
            Local1 = HMIB << 20
            Local2 = HMIL << 20
            MIN7 = Local1
            LEN7 = Local2
            MAX7 = MIN7 + (Local2 - 1)
        }
    }
    Device (\_SB.VMOD.VMBS)
    {
        Name (STA, 0xF)
        Name (_ADR, 0x00)
        Name (_DDN, "VMBUS")
        Name (_HID, "MSFT1000")
        Name (_CID, "VMBus")
        Name (_UID, 0)
        Method (_STA, 0) { Return (STA) }
        Name (_CRS, ResourceTemplate () { IRQ (Edge, ActiveHigh, Exclusive) { 5 } })
    }
}
