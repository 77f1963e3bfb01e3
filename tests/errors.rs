//! wgpu's errors become Rust errors with wgpu's message, not panics.

mod common;

use xorgpu::Error;

#[test]
fn a_validation_error_is_an_error_with_the_message() {
    let gpu = common::gpu();
    let too_big = gpu.device.limits().max_buffer_size + 4;
    let result = gpu.scoped("making an impossible buffer", || {
        gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("impossible"),
            size: too_big,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        })
    });
    match result {
        Err(Error::Gpu(message)) => {
            assert!(message.contains("making an impossible buffer"), "{message}");
            assert!(message.to_lowercase().contains("buffer"), "{message}");
        }
        Err(e) => panic!("expected a GPU error, got {e}"),
        Ok(_) => panic!("a buffer over the device's limit was accepted"),
    }
    // The device still works afterwards.
    assert!(gpu.scoped("a normal buffer", || gpu.storage("fine", 4)).is_ok());
}
