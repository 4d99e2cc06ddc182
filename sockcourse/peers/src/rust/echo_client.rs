// echo_client.rs - a line echo client in Rust, with the standard library only.
//
//     echo_client HOST PORT MESSAGE...      HOST: a loopback address
//
// It connects, and for each MESSAGE sends it with a '\n', reads one line back and prints
//     sent hello got hello
// It exits with 0, or with 1 after naming the call that failed (2 for bad arguments).
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::exit;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(10);
const MAX_LINE: u64 = 64 * 1024;

fn die(call: &str, error: std::io::Error) -> ! {
    eprintln!("echo_client: {} failed: {}", call, error);
    exit(1);
}

fn usage(why: &str) -> ! {
    eprintln!("echo_client: {}; usage: echo_client HOST PORT MESSAGE...", why);
    exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 4 {
        usage("give a host, a port and at least one message");
    }
    let ip = match args[1].parse::<IpAddr>() {
        Ok(ip) if ip.is_loopback() => ip,
        _ => usage(&format!("'{}' is not a loopback address", args[1])),
    };
    let port: u16 = match args[2].parse::<u16>() {
        Ok(port) if port > 0 => port,
        _ => usage(&format!("'{}' is not a port from 1 to 65535", args[2])),
    };

    // Every wait has a limit: connecting, reading and writing.
    let conn = TcpStream::connect_timeout(&SocketAddr::new(ip, port), TIMEOUT)
        .unwrap_or_else(|e| die("connect", e));
    conn.set_read_timeout(Some(TIMEOUT)).unwrap_or_else(|e| die("setsockopt(SO_RCVTIMEO)", e));
    conn.set_write_timeout(Some(TIMEOUT)).unwrap_or_else(|e| die("setsockopt(SO_SNDTIMEO)", e));
    let mut writer = conn.try_clone().unwrap_or_else(|e| die("dup", e));
    let mut reader = BufReader::new(conn);

    for message in &args[3..] {
        if message.contains('\n') {
            usage("a message may not hold a newline: the newline ends it");
        }
        writer.write_all(format!("{}\n", message).as_bytes()).unwrap_or_else(|e| die("send", e));
        let mut reply = Vec::new();
        let n = (&mut reader).take(MAX_LINE + 1).read_until(b'\n', &mut reply)
            .unwrap_or_else(|e| die("recv", e));
        if n == 0 || reply.last() != Some(&b'\n') {
            let why = if n == 0 { "the server closed the connection before it replied" }
                      else { "the server's reply ended, or grew too long, before its newline" };
            die("recv", std::io::Error::new(std::io::ErrorKind::UnexpectedEof, why));
        }
        reply.pop();
        println!("sent {} got {}", message, String::from_utf8_lossy(&reply));
    }
}
