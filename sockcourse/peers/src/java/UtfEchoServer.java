/*
 * UtfEchoServer.java - a Java server that speaks DataInputStream.readUTF / DataOutputStream.writeUTF.
 *
 *     java -cp DIR UtfEchoServer [HOST]      HOST: a loopback address, 127.0.0.1 (the default) or ::1
 *
 * It binds HOST on port 0, prints one line, "listening on 127.0.0.1:43121", then serves one
 * client at a time. Each string is a 2-byte big-endian length and that many bytes of Java's
 * *modified* UTF-8 (U+0000 as C0 80, a character beyond U+FFFF as two 3-byte surrogates):
 * for each one it prints
 *     readUTF: 4 chars [0068 0000 d83d de00]        (the UTF-16 code units Java got, in hex)
 * and writes the same string back with writeUTF. Bytes readUTF refuses (plain UTF-8's 4-byte
 * form, say) make it print "readUTF failed: <the exception>", send that text back with writeUTF,
 * and close the connection. It ends on SIGINT or SIGTERM, or after LIFETIME_S seconds.
 */
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.UTFDataFormatException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;

public class UtfEchoServer {
    static final int LIFETIME_S = 600;       // the longest the server lives
    static final int READ_TIMEOUT_MS = 10_000; // the longest one client may stay silent
    static final int SHOWN_UNITS = 64;       // code units printed per string; a longer one ends in "..."

    public static void main(String[] args) {
        String host = args.length > 0 ? args[0] : "127.0.0.1";
        // Only an address written out: a name would be looked up in DNS, and must not be.
        if (!host.matches("[0-9.]+|[0-9a-fA-F:]*:[0-9a-fA-F:.]*")) {
            fail("'" + host + "' is not a loopback address; give 127.0.0.1 or ::1", 2);
        }
        try (ServerSocket listener = new ServerSocket()) {
            InetAddress address = InetAddress.getByName(host);
            if (!address.isLoopbackAddress()) {
                fail("'" + host + "' is not a loopback address; give 127.0.0.1 or ::1", 2);
            }
            Thread lifetime = new Thread(() -> {
                try {
                    Thread.sleep(LIFETIME_S * 1000L);
                } catch (InterruptedException stop) {
                    return;
                }
                System.exit(0);
            });
            lifetime.setDaemon(true); // it must not keep the program alive by itself
            lifetime.start();

            listener.bind(new java.net.InetSocketAddress(address, 0)); // port 0: the kernel picks one
            String shown = address instanceof Inet6Address ? "[::1]" : address.getHostAddress();
            System.out.println("listening on " + shown + ":" + listener.getLocalPort());
            System.out.flush(); // through a pipe, the line would otherwise wait in a buffer

            while (true) { // one client at a time, until a signal or the lifetime ends the program
                try (Socket conn = listener.accept()) {
                    conn.setSoTimeout(READ_TIMEOUT_MS);
                    serve(conn);
                } catch (IOException broken) { // this client's trouble, not the server's
                    System.err.println("UtfEchoServer: connection failed: " + broken);
                }
            }
        } catch (IOException e) {
            fail("the server socket failed: " + e, 1);
        }
    }

    static void serve(Socket conn) throws IOException {
        DataInputStream in = new DataInputStream(new BufferedInputStream(conn.getInputStream()));
        DataOutputStream out = new DataOutputStream(new BufferedOutputStream(conn.getOutputStream()));
        while (true) { // bounded by the read timeout: a client must send, or be dropped
            // End of stream between two strings is a clean goodbye; inside one, it is an error.
            in.mark(1);
            if (in.read() < 0) {
                return;
            }
            in.reset();
            String text;
            try {
                text = in.readUTF();
            } catch (UTFDataFormatException | EOFException refused) {
                String said = "readUTF failed: " + refused; // toString(): class name, then message
                System.out.println(said);
                System.out.flush();
                try {
                    out.writeUTF(said);
                    out.flush();
                } catch (IOException gone) {
                    // the client left after sending half a string; nobody to tell
                }
                return;
            }
            System.out.println("readUTF: " + text.length() + " chars [" + units(text) + "]");
            System.out.flush();
            out.writeUTF(text);
            out.flush();
        }
    }

    /** The string's UTF-16 code units in hex, as Java holds it: "0068 0000 d83d de00". */
    static String units(String text) {
        StringBuilder hex = new StringBuilder();
        for (int i = 0; i < text.length() && i < SHOWN_UNITS; i++) {
            hex.append(i == 0 ? "" : " ").append(String.format("%04x", (int) text.charAt(i)));
        }
        return text.length() > SHOWN_UNITS ? hex + " ..." : hex.toString();
    }

    static void fail(String why, int code) {
        System.err.println("UtfEchoServer: " + why);
        System.exit(code);
    }
}
