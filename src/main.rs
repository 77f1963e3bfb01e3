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
    // Standard output that cannot be written: piped into something that stops reading (`|
    // head`), the run stops as a tool killed by SIGPIPE would, with its status; a full disk
    // is an error. Rust ignores SIGPIPE, so the write fails and `println!` panics: here the
    // panic becomes one line (the temporary files removed as on a signal).
    let panic_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info.payload_as_str().unwrap_or_default();
        if let Some(why) = message.strip_prefix("failed printing to stdout: ") {
            if why.contains("Broken pipe") {
                xorgpu::files::exit_removing_temporary_files(141, "error: the output was closed; stopped");
            }
            xorgpu::files::exit_removing_temporary_files(1, &format!("error: cannot write the output: {why}"));
        }
        if message.starts_with("failed printing to stderr") {
            xorgpu::files::exit_removing_temporary_files(1, "");
        }
        panic_hook(info)
    }));
    match xorgpu::cli::parse().and_then(xorgpu::cli::run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            xorgpu::files::remove_created_folders();
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
