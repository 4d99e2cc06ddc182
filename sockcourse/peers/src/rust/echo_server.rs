// echo_server.rs - a line echo server in Rust, with the standard library only.
//
//     echo_server [HOST]        HOST: a loopback address, 127.0.0.1 (the default) or ::1
//
// It binds HOST on port 0, prints one line, "listening on 127.0.0.1:43121", then answers each
// line (bytes up to a '\n') with the same line. Each client gets a thread of its own and a
// read timeout; a line longer than MAX_LINE bytes closes its connection. SIGINT or SIGTERM
// ends the program (their default action), and so does LIFETIME after it started.
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::process::exit;
use std::thread;
use std::time::Duration;

const LIFETIME: Duration = Duration::from_secs(600);
const READ_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_LINE: u64 = 64 * 1024;

fn die(call: &str, error: std::io::Error) -> ! {
    eprintln!("echo_server: {} failed: {}", call, error);
    exit(1);
}

// Echo the client's lines until it closes, falls silent, or sends a line too long to hold.
fn serve(conn: TcpStream) -> std::io::Result<()> {
    conn.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut writer = conn.try_clone()?; // a second handle on the same socket, for the replies
    let mut reader = BufReader::new(conn);
    let mut line = Vec::new();
    loop {
        line.clear();
        // take() bounds what one line may cost us, whatever the client sends.
        let n = (&mut reader).take(MAX_LINE + 1).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(()); // end of stream between two lines: the client is done
        }
        if line.last() != Some(&b'\n') {
            // Too long, or the client closed in the middle of a line: no whole line to echo.
            return Ok(());
        }
        writer.write_all(&line)?;
    }
}

fn main() {
    let host = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1".to_string());
    let ip = match host.parse::<IpAddr>() {
        Ok(ip) if ip.is_loopback() => ip,
        _ => {
            eprintln!("echo_server: '{}' is not a loopback address; give 127.0.0.1 or ::1", host);
            exit(2);
        }
    };
    thread::spawn(|| {
        thread::sleep(LIFETIME);
        exit(0);
    });

    // Port 0: the kernel picks a free one. (Rust's TcpListener sets SO_REUSEADDR itself on Unix.)
    let listener = TcpListener::bind(SocketAddr::new(ip, 0)).unwrap_or_else(|e| die("bind", e));
    let address = listener.local_addr().unwrap_or_else(|e| die("getsockname", e));
    // Display writes "127.0.0.1:43121", or "[::1]:43121" for IPv6: the course's first line.
    println!("listening on {}", address);
    // Rust's stdout is line-buffered even into a pipe; the flush says the line must be out now.
    std::io::stdout().flush().unwrap_or_else(|e| die("flush(stdout)", e));

    for conn in listener.incoming() { // until a signal or the lifetime ends the program
        match conn {
            Ok(conn) => {
                thread::spawn(move || {
                    if let Err(error) = serve(conn) {
                        eprintln!("echo_server: connection failed: {}", error); // this client's trouble only
                    }
                });
            }
            // A client that left before we took it costs nothing; any other failure ends the server.
            Err(e) if e.kind() == ErrorKind::ConnectionAborted || e.kind() == ErrorKind::Interrupted => {}
            Err(e) => die("accept", e),
        }
    }
}
