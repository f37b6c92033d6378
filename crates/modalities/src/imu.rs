//! IMU input: six channels (accelerometer x y z, gyroscope x y z) cropped or padded to a fixed
//! number of time steps, `[6, length]`.
//!
//! ImageBind ships no IMU loader; the paper (second-hand) describes Ego4D clips of 5 s with
//! about 2K steps of accelerometer + gyroscope XYZ, and the encoder takes `[6, 2000]`.
//! Values are used as given: no unit conversion, normalisation or resampling, so record the
//! units and rate your model was trained with (the time column, if any, is ignored).
//!
//! Accepted files (format rules, also quoted in the README and `--help`):
//! - CSV (UTF-8, comma-separated), one sample per line, 6 columns `ax, ay, az, gx, gy, gz`,
//!   or 7 columns whose first is a timestamp (ignored);
//! - an optional header line: the first non-blank line is a header if none of its cells is
//!   a number; it must have the same number of columns as the data;
//! - blank lines and lines starting with `#` are skipped; spaces around cells are ignored;
//! - every data cell must be a finite number (NaN/inf refused, with the line number), every
//!   data line must have the same number of columns, and there must be at least one;
//! - `.npy` (recognised by content, not name): float32 or float64, shaped `[6, T]` or
//!   `[T, 6]` (a `[6, 6]` array is read as `[6, T]`), finite values, `T ≥ 1`.

use std::path::Path;

use ndarray::{Array2, ArrayD, Ix2, s};

use crate::npy::{NPY_MAGIC, read_float_npy};
use crate::read_file;
use crate::{Error, Result};

/// Channels of an IMU sample, in the order the encoder expects.
pub(crate) const CHANNELS: usize = 6;

/// Geometry of the IMU input. [`Default`] is ImageBind's.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ImuPreprocess {
    /// Time steps the encoder takes.
    pub length: usize,
}

impl Default for ImuPreprocess {
    /// ImageBind's IMU encoder takes `[6, 2000]` (5 s clips).
    fn default() -> Self {
        ImuPreprocess { length: 2000 }
    }
}

/// Decodes an IMU recording and fits it to `[6, length]`.
pub fn load_imu(path: &Path, cfg: &ImuPreprocess) -> Result<Array2<f32>> {
    Ok(preprocess(&decode_imu(path)?, cfg))
}

/// Reads an IMU recording as `[6, T]` (see the module doc for the accepted files).
pub fn decode_imu(path: &Path) -> Result<Array2<f32>> {
    let bytes = read_file(path)?;
    if bytes.starts_with(NPY_MAGIC) {
        return imu_from_npy(path, read_float_npy(path, &bytes)?);
    }
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| Error::decode(path, "not UTF-8 text; an IMU file must be a CSV or a .npy"))?;
    parse_csv(text).map_err(|reason| Error::invalid(path, reason))
}

/// Fits `[C, T]` to `[C, length]`: a longer recording keeps its central `length` steps
/// (starting at `floor((T - length) / 2)`), a shorter one is zero-padded at the end, so its
/// start stays aligned with time 0. A centre crop keeps the middle of the action, where a
/// clip's label is most likely to hold; zeros are what the encoder sees for "no motion data".
pub fn preprocess(x: &Array2<f32>, cfg: &ImuPreprocess) -> Array2<f32> {
    let (channels, steps) = x.dim();
    let mut out = Array2::zeros((channels, cfg.length));
    if steps >= cfg.length {
        let start = (steps - cfg.length) / 2;
        out.assign(&x.slice(s![.., start..start + cfg.length]));
    } else {
        out.slice_mut(s![.., ..steps]).assign(x);
    }
    out
}

/// `[6, T]` from a `[6, T]` or `[T, 6]` array of finite values.
fn imu_from_npy(path: &Path, array: ArrayD<f32>) -> Result<Array2<f32>> {
    let shape = array.shape().to_vec();
    let array = array
        .into_dimensionality::<Ix2>()
        .map_err(|_| wrong_npy_shape(path, &shape))?;
    let channels_first = match array.dim() {
        (CHANNELS, _) => array,
        (_, CHANNELS) => array.reversed_axes(),
        _ => return Err(wrong_npy_shape(path, &shape)),
    };
    if channels_first.ncols() == 0 {
        return Err(Error::invalid(path, "the IMU array has no samples (T = 0)"));
    }
    let non_finite = channels_first.iter().filter(|v| !v.is_finite()).count();
    if non_finite > 0 {
        return Err(Error::invalid(
            path,
            format!("found {non_finite} NaN or infinite values"),
        ));
    }
    Ok(channels_first.as_standard_layout().into_owned())
}

fn wrong_npy_shape(path: &Path, shape: &[usize]) -> Error {
    Error::invalid(
        path,
        format!("an IMU .npy must be shaped [6, T] or [T, 6] (ax ay az gx gy gz); got {shape:?}"),
    )
}

/// The column layout fixed by the first header or data line.
struct Layout {
    columns: usize,
    line: usize,
}

/// Parses the CSV text into `[6, T]`, or gives the reason (with a line number) it cannot.
fn parse_csv(text: &str) -> std::result::Result<Array2<f32>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut layout: Option<Layout> = None;
    let mut values: Vec<f32> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let cells: Vec<&str> = trimmed.split(',').map(str::trim).collect();
        let header = layout.is_none() && is_header(&cells);
        check_layout(&mut layout, cells.len(), line)?;
        if !header {
            parse_row(&cells, line, &mut values)?;
            // Bounded like a `.npy`: the table is copied once more to `[6, T]`.
            let max = crate::Limits::current().npy_elements;
            if values.len() as u64 > max {
                let what = format!("the CSV holds more than {max} values (line {line})");
                return Err(crate::limits::over(&what, "npy-elements", max));
            }
        }
    }
    if values.is_empty() {
        return Err(
            "no data rows (expected lines of 6 numbers: ax, ay, az, gx, gy, gz)".to_string(),
        );
    }
    let samples = values.len() / CHANNELS;
    let rows = Array2::from_shape_vec((samples, CHANNELS), values).map_err(|e| e.to_string())?;
    Ok(rows.reversed_axes().as_standard_layout().into_owned())
}

/// A header line names columns: none of its cells is a number (and it is not all blank).
fn is_header(cells: &[&str]) -> bool {
    cells.iter().any(|c| !c.is_empty()) && cells.iter().all(|c| c.parse::<f64>().is_err())
}

/// Checks the column count of one line: 6 or 7, and the same as the first line.
fn check_layout(
    layout: &mut Option<Layout>,
    columns: usize,
    line: usize,
) -> std::result::Result<(), String> {
    if columns != CHANNELS && columns != CHANNELS + 1 {
        return Err(format!(
            "expected 6 columns (ax ay az gx gy gz) or 7 with a leading time column, \
             found {columns} on line {line}"
        ));
    }
    match layout {
        None => *layout = Some(Layout { columns, line }),
        Some(first) if first.columns != columns => {
            return Err(format!(
                "ragged rows: line {line} has {columns} columns but line {} has {}",
                first.line, first.columns
            ));
        }
        Some(_) => {}
    }
    Ok(())
}

/// Parses a data line's cells and appends the six sensor values (dropping a time column).
fn parse_row(
    cells: &[&str],
    line: usize,
    values: &mut Vec<f32>,
) -> std::result::Result<(), String> {
    let first_sensor = cells.len() - CHANNELS;
    for (column, cell) in cells.iter().enumerate() {
        let value =
            parse_cell(cell).map_err(|why| format!("line {line}, column {}: {why}", column + 1))?;
        if column >= first_sensor {
            values.push(value);
        }
    }
    Ok(())
}

/// One finite number, or why the cell is not one.
fn parse_cell(cell: &str) -> std::result::Result<f32, String> {
    if cell.is_empty() {
        return Err("empty cell".to_string());
    }
    let value: f32 = cell
        .parse()
        .map_err(|_| format!("'{cell}' is not a number"))?;
    if !value.is_finite() {
        return Err(format!(
            "'{cell}' is NaN or infinite (or too large for f32)"
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_needs_every_cell_non_numeric() {
        assert!(is_header(&["ax", "ay", "az", "gx", "gy", "gz"]));
        assert!(is_header(&["", "ax", "ay", "az", "gx", "gy", "gz"]));
        assert!(!is_header(&["1", "ay", "az", "gx", "gy", "gz"]));
        assert!(!is_header(&["", "", ""]));
    }

    #[test]
    fn crlf_bom_comments_and_blank_lines() {
        let x =
            parse_csv("\u{feff}# recorded at 400 Hz\r\nax,ay,az,gx,gy,gz\r\n\r\n1,2,3,4,5,6\r\n")
                .unwrap();
        assert_eq!(x.dim(), (6, 1));
        assert_eq!(x[[5, 0]], 6.0);
    }

    #[test]
    fn ragged_rows_name_both_lines() {
        let err = parse_csv("0,1,2,3,4,5,6\n1,2,3,4,5,6\n").unwrap_err();
        assert!(
            err.contains("line 2 has 6 columns but line 1 has 7"),
            "{err}"
        );
    }

    #[test]
    fn zero_length_gives_empty_output() {
        let x = Array2::from_elem((6, 3), 1.0f32);
        assert_eq!(preprocess(&x, &ImuPreprocess { length: 0 }).dim(), (6, 0));
    }
}
