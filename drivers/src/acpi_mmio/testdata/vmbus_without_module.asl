/* Test fixture: an SSDT with a VMBus device whose only resource is its interrupt and no
 * ancestor with memory: there are no VMBus MMIO ranges. */
DefinitionBlock ("vmbus_without_module.aml", "SSDT", 2, "DXGOS ", "NOGAPS  ", 1)
{
    Device (\_SB.VMBS)
    {
        Name (_HID, "MSFT1000")
        Name (_CID, "VMBus")
        Name (_CRS, ResourceTemplate () { IRQ (Edge, ActiveHigh, Exclusive) { 5 } })
    }
}
