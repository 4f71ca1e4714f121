//! Output for the command line: standard output that ends the process quietly when its
//! reader goes away. Only the CLI's code paths use it; a simulated run never prints.

/// Standard output that ends the process quietly when the reader goes away (`replay | head`),
/// as command-line tools do, instead of panicking on a broken pipe.
pub struct Stdout;

impl std::io::Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::stdout().write(buf).map_err(exit_on_broken_pipe)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush().map_err(exit_on_broken_pipe)
    }
}

/// Ends the process quietly if `err` is a broken pipe; otherwise hands it back.
pub fn exit_on_broken_pipe(err: std::io::Error) -> std::io::Error {
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    err
}

/// `println!` through [`Stdout`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!($crate::output::Stdout, $($arg)*);
    }};
}
