//! Reading and writing NumPy `.npy` files for every dtype `.npy` can hold, and conversions
//! between [`Tensor`](crate::tensor::Tensor) and `ndarray` arrays.
