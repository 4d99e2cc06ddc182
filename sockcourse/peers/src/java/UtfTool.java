// UtfTool: the course's oracle for Java's modified UTF-8, one request per line, stdin to stdout.
//
//   encode <hex of UTF-16BE code units>   ->  ok <hex of what writeUTF wrote, its 2-byte length first>
//   decode <hex of bytes, length first>   ->  ok <hex of the UTF-16BE code units readUTF returned>
//   a request Java refuses                ->  error <exception class>[: <message>]
//
// The answers come from the real DataOutputStream.writeUTF and DataInputStream.readUTF on byte-array
// streams, so Python's sockcourse.protocols.javautf is checked against Java itself, not against a copy
// of its rules. Text travels as hex, so NUL, lone surrogates and line breaks cannot garble a line;
// in an error message a character outside printable ASCII is written as a backslash, u, 4 hex digits.
// It ends at the end of stdin; each answer is flushed at once, so a program may also talk to it.
import java.io.*;
import java.nio.charset.StandardCharsets;

public final class UtfTool {
    public static void main(String[] args) throws IOException {
        var requests = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        var answers = new PrintStream(new FileOutputStream(FileDescriptor.out), false, "US-ASCII");
        for (String line; (line = requests.readLine()) != null; ) {
            answers.println(answer(line.strip()));
            answers.flush();
        }
    }

    static String answer(String request) {
        String[] words = request.split(" ", 2);
        try {
            byte[] data = bytes(words.length > 1 ? words[1].strip() : "");
            if (words[0].equals("encode")) {
                if (data.length % 2 != 0) throw new IllegalArgumentException("odd number of bytes for UTF-16BE");
                char[] units = new char[data.length / 2];  // one char per unit: a lone surrogate stays as sent
                for (int i = 0; i < units.length; i++) {
                    units[i] = (char) ((data[2 * i] & 0xFF) << 8 | data[2 * i + 1] & 0xFF);
                }
                var sink = new ByteArrayOutputStream();
                new DataOutputStream(sink).writeUTF(new String(units));
                return "ok " + hex(sink.toByteArray());
            }
            if (words[0].equals("decode")) {
                String text = new DataInputStream(new ByteArrayInputStream(data)).readUTF();
                byte[] units = new byte[2 * text.length()];  // by hand: getBytes() would replace lone surrogates
                for (int i = 0; i < text.length(); i++) {
                    units[2 * i] = (byte) (text.charAt(i) >> 8);
                    units[2 * i + 1] = (byte) text.charAt(i);
                }
                return "ok " + hex(units);
            }
            throw new IllegalArgumentException("unknown request '" + words[0] + "', expected encode or decode");
        } catch (IOException | IllegalArgumentException e) {
            return "error " + ascii(e.toString());  // toString(): the class, then ": message" if it has one
        }
    }

    static byte[] bytes(String hex) {
        if (hex.length() % 2 != 0) throw new IllegalArgumentException("odd number of hex digits");
        byte[] out = new byte[hex.length() / 2];
        for (int i = 0; i < out.length; i++) {
            int high = Character.digit(hex.charAt(2 * i), 16), low = Character.digit(hex.charAt(2 * i + 1), 16);
            if (high < 0 || low < 0) throw new IllegalArgumentException("not a hex digit at position " + 2 * i);
            out[i] = (byte) (high << 4 | low);
        }
        return out;
    }

    static String hex(byte[] data) {
        var out = new StringBuilder(2 * data.length);
        for (byte b : data) out.append(Character.forDigit(b >> 4 & 0xF, 16)).append(Character.forDigit(b & 0xF, 16));
        return out.toString();
    }

    static String ascii(String text) {
        var out = new StringBuilder();
        for (char c : text.toCharArray()) {
            if (c >= 0x20 && c < 0x7F && c != '\\') out.append(c);
            else out.append(String.format("\\u%04x", (int) c));
        }
        return out.toString();
    }
}
