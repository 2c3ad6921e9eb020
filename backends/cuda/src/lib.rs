//! tessera-cuda: will lower kernel IR to PTX text, checked by ptxas without a GPU and run
//! through the CUDA driver (loaded at run time). Empty until the CUDA backend lands.
