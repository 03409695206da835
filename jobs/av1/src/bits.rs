//! A most-significant-bit-first reader for the codec headers the encoders parse back (the AV1
//! sequence header, the H.264 SPS): single bits, fixed-width fields and Exp-Golomb codes (AV1's
//! `uvlc`, H.264's `ue(v)`/`se(v)`, the same code).

/// Why a header could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BitsError {
    /// It ended in the middle of a field.
    #[error("the header is cut short")]
    Truncated,
    /// An Exp-Golomb code with 32 or more leading zeros (no valid header has one).
    #[error("an Exp-Golomb code is too long")]
    CodeTooLong,
}

/// Reads `data` bit by bit.
pub struct BitReader<'a> {
    data: &'a [u8],
    bit: usize,
}

impl<'a> BitReader<'a> {
    /// A reader at the first bit of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, bit: 0 }
    }

    /// One bit.
    pub fn bit(&mut self) -> Result<bool, BitsError> {
        let byte = self.data.get(self.bit / 8).ok_or(BitsError::Truncated)?;
        let v = (byte >> (7 - (self.bit % 8))) & 1;
        self.bit += 1;
        Ok(v == 1)
    }

    /// An `n`-bit unsigned field (`n` at most 32).
    pub fn bits(&mut self, n: u32) -> Result<u32, BitsError> {
        let mut v: u32 = 0;
        for _ in 0..n {
            v = (v << 1) | u32::from(self.bit()?);
        }
        Ok(v)
    }

    /// An unsigned Exp-Golomb code.
    pub fn exp_golomb(&mut self) -> Result<u32, BitsError> {
        let mut zeros = 0u32;
        while !self.bit()? {
            zeros += 1;
            if zeros >= 32 {
                return Err(BitsError::CodeTooLong);
            }
        }
        // At most 31 zeros: the value is below 2^32 - 1.
        Ok(self.bits(zeros)? + ((1u32 << zeros) - 1))
    }

    /// A signed Exp-Golomb code (H.264's `se(v)`: 1, -1, 2, -2, ...).
    pub fn signed_exp_golomb(&mut self) -> Result<i64, BitsError> {
        let k = i64::from(self.exp_golomb()?);
        Ok(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn fields_and_exp_golomb_codes() {
        // 101 | 1 | 010 | 011 | 00100 | 00101 -> 5, ue 0, ue 1, ue 2, ue 3, se -2.
        let data = [0b1011_0100, 0b1100_1000, 0b0101_0000];
        let mut r = BitReader::new(&data);
        assert_eq!(r.bits(3).unwrap(), 5);
        assert_eq!(r.exp_golomb().unwrap(), 0);
        assert_eq!(r.exp_golomb().unwrap(), 1);
        assert_eq!(r.exp_golomb().unwrap(), 2);
        assert_eq!(r.exp_golomb().unwrap(), 3);
        assert_eq!(r.signed_exp_golomb().unwrap(), -2);
        assert_eq!(r.bits(8), Err(BitsError::Truncated));
    }

    #[test]
    fn a_run_of_zeros_is_refused_not_overflowed() {
        let data = [0u8; 8];
        assert_eq!(BitReader::new(&data).exp_golomb(), Err(BitsError::CodeTooLong));
        assert_eq!(BitReader::new(&[0u8; 2]).exp_golomb(), Err(BitsError::Truncated));
    }
}
