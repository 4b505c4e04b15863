/* Test fixture: a VMBus device under a module device with a static _CRS (no _INI), a Method
 * _STA on VMBus, a zero-length descriptor, an I/O range, and a low range spanning the vTPM. */
DefinitionBlock ("static_resources.aml", "SSDT", 2, "DXGOS ", "STATIC  ", 1)
{
    Device (\_SB.MODU)
    {
        Name (_HID, "ACPI0004")
        Method (_CRS, 0, NotSerialized)
        {
            Return (ResourceTemplate ()
            {
                DWordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0, 0x1000, 0x1FFF, 0, 0x1000)
                DWordMemory (ResourceProducer, PosDecode, MinNotFixed, MaxNotFixed, Cacheable, ReadWrite, 0, 0, 0xFFFFFFFF, 0, 0)
                DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite, 0, 0xF8000000, 0xFFFFFFFF, 0, 0x08000000)
                QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite, 0, 0x1000000000, 0x103FFFFFFF, 0, 0x40000000)
            })
        }
        Device (BUS0)
        {
            Name (_CID, "VMBUS")
            Method (_STA, 0, NotSerialized) { Local0 = 0x0B
                Return (Local0) }
        }
    }
}
