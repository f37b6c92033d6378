//! `.npy` arrays of floats, as depth maps and IMU recordings may come: the header checked
//! against the limits before anything is allocated.

use std::path::Path;

use ndarray::ArrayD;
use ndarray_npy::{ReadNpyError, ReadNpyExt};

use crate::{Error, Result};

/// First bytes of every `.npy` file.
pub(crate) const NPY_MAGIC: &[u8] = b"\x93NUMPY";

/// Reads a float32 or float64 `.npy` (either byte order, C or Fortran order) as `f32`.
/// Other dtypes are refused by name; a truncated or malformed file is a decode error.
/// float64 values too large for `f32` become infinite, which callers reject as non-finite.
pub(crate) fn read_float_npy(path: &Path, bytes: &[u8]) -> Result<ArrayD<f32>> {
    let not_npy = |e: ReadNpyError| {
        Error::decode(
            path,
            format!("not a valid .npy file (truncated or malformed): {e}"),
        )
    };
    // The header is trusted by no one: its shape is checked before the array is allocated.
    let shape = crate::limits::npy_shape(bytes).map_err(|reason| Error::decode(path, reason))?;
    crate::Limits::current().check_npy(path, &shape)?;
    match ArrayD::<f32>::read_npy(bytes) {
        Ok(a) => return Ok(a),
        Err(ReadNpyError::WrongDescriptor(_)) => {}
        Err(e) => return Err(not_npy(e)),
    }
    match ArrayD::<f64>::read_npy(bytes) {
        Ok(a) => Ok(a.mapv(|v| v as f32)),
        Err(ReadNpyError::WrongDescriptor(dtype)) => Err(Error::invalid(
            path,
            format!(".npy values must be float32 or float64; this file holds dtype {dtype}"),
        )),
        Err(e) => Err(not_npy(e)),
    }
}
