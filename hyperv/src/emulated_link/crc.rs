//! CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no reflection, no final XOR).

/// The CRC-16/CCITT-FALSE of `bytes`.
pub const fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    let mut index = 0;
    while index < bytes.len() {
        crc ^= (bytes[index] as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        index += 1;
    }
    crc
}

#[cfg(test)]
mod tests {
    #[test]
    fn published_check_value() {
        // The catalogue check value of CRC-16/CCITT-FALSE.
        assert_eq!(super::crc16(b"123456789"), 0x29B1);
        assert_eq!(super::crc16(b""), 0xFFFF);
    }
}
