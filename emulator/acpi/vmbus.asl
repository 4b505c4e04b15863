/*
 * dxgos emulator: the VMBus part of a Hyper-V Generation 2 VM's ACPI namespace, as an SSDT for
 * QEMU's `-acpitable file=...`.
 *
 * Its shape follows the Hyper-V UEFI firmware (microsoft/mu_msvm, MsvmPkg/AcpiTables/Dsdt.asl;
 * the data block is filled by MsvmPkg/AcpiPlatformDxe/Dsdt.c): a module device \_SB.VMOD whose
 * _INI copies the VMBus MMIO gaps from a firmware-filled SystemMemory region into its _CRS,
 * and the VMBus device \_SB.VMOD.VMBS, which carries only an interrupt. The guest must run the
 * same AML path on QEMU as on Hyper-V.
 *
 * The region's address below is a placeholder: emulator/src/acpi_tables.rs patches the 32-bit
 * constant that follows the bytes 5B 80 "BIOS" 00 0C (as the firmware does), widening it to a
 * 64-bit constant when the region lies above 4 GiB. Rebuild vmbus.aml with
 *     iasl -p vmbus vmbus.asl
 * (the emulator's tests compare this file with a fresh build when iasl is installed).
 */
DefinitionBlock ("vmbus.aml", "SSDT", 2, "MSFTVM", "DXGVMBUS", 1)
{
    /* Layout of the firmware's data block (offsets 0x00..0x2C); units as the firmware fills
     * them: the low gap in bytes, the high gap in MiB. */
    OperationRegion (BIOS, SystemMemory, 0xFFFFFF00, 0xFF)
    Field (BIOS, ByteAcc, NoLock, Preserve)
    {
        MG2B, 32,   /* low gap base, bytes */
        MG2L, 32,   /* low gap length, bytes */
        HMIB, 32,   /* high gap base, MiB */
        HMIL, 32,   /* high gap length, MiB */
        GCAL, 32,   /* generation counter address, low half */
        GCAH, 32,   /* generation counter address, high half */
        PCNT, 32,   /* processor count */
        NVDA, 32,   /* NVDIMM method buffer address */
        SCFG, 8,    /* serial ports */
        TCFG, 8,    /* TPM */
        PCFG, 8,    /* OEM table load */
        HCFG, 8,    /* hibernation */
        NCFG, 8,    /* NVDIMMs */
        BCFG, 8,    /* battery */
        SGXE, 8,    /* SGX memory */
        PADE, 8,    /* processor aggregator */
        CCFG, 8,    /* CXL memory */
        NCNT, 16,   /* NVDIMM count */
        VCFG, 8,    /* VMBus enabled */
        ICFG, 8     /* IPMI */
    }

    Device (\_SB.VMOD)
    {
        Name (_HID, "ACPI0004")
        Name (_UID, Zero)
        /* Both descriptors are zero here; _INI fills them. */
        Name (_CRS, ResourceTemplate ()
        {
            DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite,
                0x00000000, 0x00000000, 0x00000000, 0x00000000, 0x00000000, , , LOWG)
            QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite,
                0x0000000000000000, 0x0000000000000000, 0x0000000000000000,
                0x0000000000000000, 0x0000000000000000, , , HIGG)
        })
        CreateDWordField (_CRS, \_SB.VMOD.LOWG._MIN, LMIN)
        CreateDWordField (_CRS, \_SB.VMOD.LOWG._MAX, LMAX)
        CreateDWordField (_CRS, \_SB.VMOD.LOWG._LEN, LLEN)
        CreateQWordField (_CRS, \_SB.VMOD.HIGG._MIN, HMIN)
        CreateQWordField (_CRS, \_SB.VMOD.HIGG._MAX, HMAX)
        CreateQWordField (_CRS, \_SB.VMOD.HIGG._LEN, HLEN)

        Method (_INI, 0, NotSerialized)
        {
            /* A gap of length zero leaves its descriptor zero. */
            If (LGreater (MG2L, Zero))
            {
                Store (MG2B, LMIN)
                Store (MG2L, LLEN)
                Store (MG2L, Local0)
                Add (LMIN, Decrement (Local0), LMAX)
            }
            If (LGreater (HMIL, Zero))
            {
                ShiftLeft (HMIB, 20, Local1)
                ShiftLeft (HMIL, 20, Local2)
                Store (Local1, HMIN)
                Store (Local2, HLEN)
                Store (Local2, Local0)
                Add (HMIN, Decrement (Local0), HMAX)
            }
        }
    }

    If (LGreater (VCFG, Zero))
    {
        Device (\_SB.VMOD.VMBS)
        {
            Name (STA, 0x0F)
            Name (_ADR, Zero)
            Name (_DDN, "VMBUS")
            Name (_HID, "MSFT1000")
            Name (_CID, "VMBus")
            Name (_UID, Zero)
            Method (_DIS, 0, NotSerialized) { And (STA, 0x0D, STA) }
            Method (_PS0, 0, NotSerialized) { Or (STA, 0x0F, STA) }
            Method (_STA, 0, NotSerialized) { Return (STA) }
            Method (_PS3, 0, NotSerialized) { Return (STA) }
            /* x64: the legacy short IRQ descriptor, interrupt 5. */
            Name (_CRS, ResourceTemplate ()
            {
                IRQ (Edge, ActiveHigh, Exclusive, ) {5}
            })
        }
    }
}
