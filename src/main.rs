use std::process::ExitCode;

fn main() -> ExitCode {
    // Mesa's Vulkan drivers probe for a display server through XDG_RUNTIME_DIR and print an
    // error when it is unset, as on a headless machine; compute needs no display.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    // Ctrl-C, SIGTERM or SIGHUP: no half-written temporary file is left behind (an output
    // already renamed into place stays whole; the one being written is dropped).
    // Under `serve`, the first asks the server to stop cleanly.
    let _ = ctrlc::set_handler(|| {
        if xorgpu::serve::interrupt() {
            return;
        }
        xorgpu::files::exit_removing_temporary_files(130, "error: interrupted; no output was left half-written")
    });
    match xorgpu::cli::parse().and_then(xorgpu::cli::run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
