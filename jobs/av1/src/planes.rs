//! Frame planes as the encoders take them: exactly `h` rows of `w` bytes, whatever the stride
//! the caller's buffer has (shared by the AV1 and the H.264 encoder).

use std::borrow::Cow;

/// A slice holding exactly `h` rows of `w` bytes of `data` (rows `stride` bytes apart), copied
/// only if the input is strided. The error says what is wrong with the plane named `name`.
pub fn tight_plane<'a>(
    name: &str,
    data: &'a [u8],
    stride: usize,
    w: usize,
    h: usize,
) -> Result<Cow<'a, [u8]>, String> {
    if stride < w {
        return Err(format!("{name} stride {stride} < width {w}"));
    }
    let need = stride
        .checked_mul(h.saturating_sub(1))
        .and_then(|n| n.checked_add(w))
        .ok_or_else(|| format!("{name} plane size overflow"))?;
    if data.len() < need {
        return Err(format!(
            "{name} plane has {} bytes, need {need} ({w}x{h}, stride {stride})",
            data.len()
        ));
    }
    if stride == w {
        return data
            .get(..w * h)
            .map(Cow::Borrowed)
            .ok_or_else(|| format!("{name} plane too short"));
    }
    let mut out = Vec::with_capacity(w * h);
    for row in data.chunks(stride).take(h) {
        out.extend_from_slice(row.get(..w).unwrap_or(row));
    }
    if out.len() != w * h {
        return Err(format!("{name} plane too short"));
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn strided_rows_are_packed_and_short_planes_refused() {
        let data = [1, 2, 9, 3, 4, 9];
        assert_eq!(tight_plane("Y", &data, 3, 2, 2).unwrap().as_ref(), &[1, 2, 3, 4]);
        assert!(matches!(
            tight_plane("Y", &data[..4], 2, 2, 2).unwrap(),
            Cow::Borrowed(_)
        ));
        assert!(tight_plane("Y", &data, 1, 2, 2).is_err());
        assert!(tight_plane("Y", &data[..4], 3, 2, 2).is_err());
    }
}
