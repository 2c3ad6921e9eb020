//! tessera-vulkan: will lower kernel IR to WGSL compute shaders, validate them with naga and run
//! them through wgpu (Vulkan, Metal, DX12). Empty until the Vulkan backend lands.
