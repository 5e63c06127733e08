//! A real SMTP server on loopback that keeps every message it is sent, so tests can read the mail zauthy delivers.
//!
//! It speaks enough ESMTP for `lettre`'s plain (no TLS) transport and for hand-written
//! sessions over a raw socket, and decodes the usual MIME shapes so tests can assert on the
//! text a person would read rather than on transfer encodings.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::bail;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

/// A running SMTP sink. Dropping it stops the server and closes every open connection.
pub struct SmtpSink {
    port: u16,
    shared: Arc<Shared>,
    accept_loop: JoinHandle<()>,
}

/// One message as it arrived: the SMTP envelope and the raw DATA.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The reverse path of `MAIL FROM`, without angle brackets; empty for the null sender `<>`.
    pub from: String,
    /// The forward paths of every accepted `RCPT TO`, in order.
    pub to: Vec<String>,
    /// The full raw message, dot-unstuffed, with its CRLF line endings.
    pub data: String,
}

struct Shared {
    messages: Mutex<Vec<ReceivedMail>>,
    arrived: Notify,
}

impl Shared {
    fn messages(&self) -> MutexGuard<'_, Vec<ReceivedMail>> {
        // A test that panicked while holding the lock must not hide the mail from the others.
        self.messages.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SmtpSink {
    /// Binds 127.0.0.1 on a free port and starts accepting connections in the background.
    pub async fn start() -> anyhow::Result<SmtpSink> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared { messages: Mutex::new(Vec::new()), arrived: Notify::new() });
        let accept_loop = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
        tracing::debug!(port, "SMTP sink listening");
        Ok(SmtpSink { port, shared, accept_loop })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        self.shared.messages().clone()
    }

    /// Waits until at least `n` messages have arrived, then returns all of them.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> anyhow::Result<Vec<ReceivedMail>> {
        self.wait_until(timeout, &format!("{n} message(s)"), |messages| {
            (messages.len() >= n).then(|| messages.to_vec())
        })
        .await
    }

    /// The latest message with `addr` among its recipients (compared case-insensitively).
    ///
    /// Returns as soon as one such message exists, so a test expecting a second mail to the
    /// same address should count with [`SmtpSink::wait_for`] first.
    pub async fn wait_for_mail_to(&self, addr: &str, timeout: Duration) -> anyhow::Result<ReceivedMail> {
        self.wait_until(timeout, &format!("a message to {addr}"), |messages| {
            messages.iter().rev().find(|m| m.to.iter().any(|to| to.eq_ignore_ascii_case(addr))).cloned()
        })
        .await
    }

    async fn wait_until<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut check: impl FnMut(&[ReceivedMail]) -> Option<T>,
    ) -> anyhow::Result<T> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registering before looking means a message landing in between still wakes us.
            let notified = self.shared.arrived.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            let found = check(&self.shared.messages());
            if let Some(found) = found {
                return Ok(found);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let messages = self.messages();
                let mut summary = String::new();
                for m in &messages {
                    let _ = write!(summary, "\n  to {:?}, subject {:?}", m.to, m.subject().unwrap_or_default());
                }
                bail!(
                    "timed out after {timeout:?} waiting for {what}; the SMTP sink on port {} received {} message(s):{summary}",
                    self.port,
                    messages.len()
                );
            }
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        // The connection tasks live in the accept loop's JoinSet, so they go with it.
        self.accept_loop.abort();
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let shared = Arc::clone(&shared);
                    connections.spawn(async move {
                        if let Err(error) = serve(stream, &shared).await {
                            tracing::debug!(%peer, %error, "SMTP sink connection ended with an error");
                        }
                    });
                }
                Err(error) => {
                    // Usually out of file descriptors: back off instead of spinning.
                    tracing::warn!(%error, "SMTP sink failed to accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            // Reaping finished connections keeps the set from growing over a long test run.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

const EHLO_REPLY: &str = "250-localhost greets you\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n";

#[derive(Default)]
struct Transaction {
    from: Option<String>,
    to: Vec<String>,
}

async fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    // One buffered reader for the whole session: pipelined commands may already sit in it.
    let mut reader = BufReader::new(reader);
    reply(&mut writer, "220 localhost zauthy-testkit SMTP sink ready\r\n").await?;

    let mut tx = Transaction::default();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let command = String::from_utf8_lossy(&line);
        let command = command.trim_end_matches(['\r', '\n']);
        let (verb, arg) = command.split_once(' ').unwrap_or((command, ""));
        let response = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                tx = Transaction::default();
                EHLO_REPLY
            }
            "HELO" => {
                tx = Transaction::default();
                "250 localhost\r\n"
            }
            "MAIL" => match parse_path(arg, "FROM:") {
                Some(from) => {
                    tx = Transaction { from: Some(from), to: Vec::new() };
                    "250 2.1.0 OK\r\n"
                }
                None => "501 5.5.4 expected MAIL FROM:<address>\r\n",
            },
            "RCPT" => match (&tx.from, parse_path(arg, "TO:")) {
                (None, _) => "503 5.5.1 MAIL first\r\n",
                (Some(_), None) => "501 5.5.4 expected RCPT TO:<address>\r\n",
                (Some(_), Some(to)) => {
                    tx.to.push(to);
                    "250 2.1.5 OK\r\n"
                }
            },
            "DATA" => {
                if tx.from.is_none() {
                    "503 5.5.1 MAIL first\r\n"
                } else if tx.to.is_empty() {
                    "554 5.5.1 no valid recipients\r\n"
                } else {
                    reply(&mut writer, "354 end data with <CR><LF>.<CR><LF>\r\n").await?;
                    let Some(data) = read_data(&mut reader).await? else {
                        return Ok(());
                    };
                    let Transaction { from, to } = std::mem::take(&mut tx);
                    let mail = ReceivedMail { from: from.unwrap_or_default(), to, data };
                    tracing::debug!(from = %mail.from, to = ?mail.to, "SMTP sink received a message");
                    shared.messages().push(mail);
                    shared.arrived.notify_waiters();
                    "250 2.0.0 OK queued\r\n"
                }
            }
            "RSET" => {
                tx = Transaction::default();
                "250 2.0.0 OK\r\n"
            }
            "NOOP" => "250 2.0.0 OK\r\n",
            "QUIT" => {
                reply(&mut writer, "221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            "" => "500 5.5.2 empty command\r\n",
            _ => "502 5.5.1 command not implemented\r\n",
        };
        reply(&mut writer, response).await?;
    }
}

async fn reply(writer: &mut (impl AsyncWrite + Unpin), response: &str) -> std::io::Result<()> {
    writer.write_all(response.as_bytes()).await?;
    writer.flush().await
}

/// `FROM:<a@b> SIZE=12` → `a@b`. Parameters are ignored; a bare address is tolerated.
fn parse_path(arg: &str, keyword: &str) -> Option<String> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    if let Some(bracketed) = rest.strip_prefix('<') {
        let end = bracketed.find('>')?;
        Some(bracketed[..end].to_owned())
    } else {
        let addr = rest.split_whitespace().next()?;
        Some(addr.to_owned())
    }
}

/// Reads DATA up to the lone-dot line; `None` if the client hung up first.
async fn read_data(reader: &mut (impl AsyncBufRead + Unpin)) -> std::io::Result<Option<String>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(None);
        }
        if line == b".\r\n" || line == b".\n" {
            return Ok(Some(String::from_utf8_lossy(&data).into_owned()));
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        data.extend_from_slice(unstuffed);
    }
}

impl ReceivedMail {
    /// The readable text of the message, with line endings as `\n` and no trailing line
    /// breaks: senders differ in how many they leave there (`lettre` adds one to every
    /// single-part message), so the same text reads the same whatever the MIME shape.
    ///
    /// Undoes quoted-printable and base64; in a multipart message it picks the first inline
    /// `text/plain` part, falling back to the first text part (say, HTML only) and then to
    /// the first part of any kind.
    pub fn text_body(&self) -> String {
        let mut leaves = Vec::new();
        collect_leaves(&self.data, &mut leaves, 0);
        let chosen = leaves
            .iter()
            .find(|leaf| leaf.mime == "text/plain" && !leaf.attachment)
            .or_else(|| leaves.iter().find(|leaf| leaf.mime.starts_with("text/")))
            .or_else(|| leaves.first());
        chosen.map(|leaf| leaf.text.replace("\r\n", "\n").trim_end_matches('\n').to_owned()).unwrap_or_default()
    }

    /// The `Subject` header, unfolded, with RFC 2047 encoded words decoded.
    pub fn subject(&self) -> Option<String> {
        self.header("Subject")
    }

    /// The first header of that name (case-insensitive), unfolded, with encoded words decoded.
    pub fn header(&self, name: &str) -> Option<String> {
        let (headers, _) = split_entity(&self.data);
        find_header(&headers, name).map(decode_encoded_words)
    }
}

// ---------------------------------------------------------------------------
// MIME: just enough to find the text of the mail zauthy sends.

struct Leaf {
    mime: String,
    attachment: bool,
    text: String,
}

/// Splits an entity into unfolded headers and the body after the first blank line.
fn split_entity(raw: &str) -> (Vec<(String, String)>, &str) {
    let (head, body) = if let Some(body) = raw.strip_prefix("\r\n").or(raw.strip_prefix('\n')) {
        ("", body)
    } else {
        let crlf = raw.find("\r\n\r\n").map(|i| (i, 4));
        let lf = raw.find("\n\n").map(|i| (i, 2));
        match [crlf, lf].into_iter().flatten().min() {
            Some((i, sep)) => (&raw[..i], &raw[i + sep..]),
            None => (raw, ""),
        }
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim_start().to_owned()));
        }
    }
    for (_, value) in &mut headers {
        *value = value.trim().to_owned();
    }
    (headers, body)
}

fn find_header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// `text/plain; charset="utf-8"` → (`text/plain`, [(`charset`, `utf-8`)]).
fn parse_content_type(value: &str) -> (String, Vec<(String, String)>) {
    let mut pieces = split_params(value).into_iter();
    let mime = pieces.next().unwrap_or_default().trim().to_ascii_lowercase();
    let params = pieces
        .filter_map(|piece| {
            let (name, value) = piece.split_once('=')?;
            let value = value.trim();
            let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
            Some((name.trim().to_ascii_lowercase(), value.replace("\\\"", "\"")))
        })
        .collect();
    (mime, params)
}

/// Splits on `;` outside double quotes, since quoted parameter values may contain one.
fn split_params(value: &str) -> Vec<String> {
    let mut pieces = vec![String::new()];
    let mut quoted = false;
    let mut escaped = false;
    for c in value.chars() {
        let current = pieces.last_mut().expect("pieces is never empty");
        match c {
            _ if escaped => {
                escaped = false;
                current.push(c);
            }
            '\\' if quoted => {
                escaped = true;
                current.push(c);
            }
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ';' if !quoted => pieces.push(String::new()),
            _ => current.push(c),
        }
    }
    pieces
}

fn param<'p>(params: &'p [(String, String)], name: &str) -> Option<&'p str> {
    params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
}

fn collect_leaves(raw: &str, leaves: &mut Vec<Leaf>, depth: usize) {
    let (headers, body) = split_entity(raw);
    let (mime, params) = find_header(&headers, "Content-Type")
        .map(parse_content_type)
        .unwrap_or_else(|| ("text/plain".to_owned(), Vec::new()));

    // The depth cap keeps a malicious or broken message from recursing without end.
    if mime.starts_with("multipart/")
        && depth < 16
        && let Some(boundary) = param(&params, "boundary")
    {
        for part in split_multipart(body, boundary) {
            collect_leaves(&part, leaves, depth + 1);
        }
        return;
    }

    let encoding = find_header(&headers, "Content-Transfer-Encoding").unwrap_or("7bit").trim().to_ascii_lowercase();
    let bytes = match encoding.as_str() {
        "quoted-printable" => decode_quoted_printable(body),
        "base64" => decode_base64(body),
        _ => body.as_bytes().to_vec(),
    };
    let attachment = find_header(&headers, "Content-Disposition")
        .is_some_and(|d| d.split(';').next().is_some_and(|kind| kind.trim().eq_ignore_ascii_case("attachment")));
    leaves.push(Leaf { text: decode_charset(&bytes, param(&params, "charset").unwrap_or("utf-8")), mime, attachment });
}

/// The body parts between `--boundary` lines; the line break before each delimiter
/// belongs to the delimiter (RFC 2046), so it is not part of the preceding body.
fn split_multipart(body: &str, boundary: &str) -> Vec<String> {
    let delimiter = format!("--{boundary}");
    let close = format!("--{boundary}--");
    let mut parts = Vec::new();
    let mut current: Option<String> = None;
    for line in body.split_inclusive('\n') {
        let bare = line.trim_end();
        if bare == close {
            break;
        }
        if bare == delimiter {
            parts.extend(current.take());
            current = Some(String::new());
        } else if let Some(part) = current.as_mut() {
            part.push_str(line);
        }
    }
    parts.extend(current);
    for part in &mut parts {
        if part.ends_with("\r\n") {
            part.truncate(part.len() - 2);
        } else if part.ends_with('\n') {
            part.truncate(part.len() - 1);
        }
    }
    parts
}

fn decode_charset(bytes: &[u8], charset: &str) -> String {
    let charset = charset.split('*').next().unwrap_or(charset);
    match charset.trim().to_ascii_lowercase().as_str() {
        // Latin-1 bytes are exactly the first 256 code points.
        "iso-8859-1" | "latin1" | "latin-1" => bytes.iter().map(|&b| char::from(b)).collect(),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Quoted-printable (RFC 2045 §6.7): `=XX` escapes, `=` at the end of a line joins it to
/// the next, and trailing blanks are transport padding.
fn decode_quoted_printable(input: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut lines = input.split('\n').peekable();
    while let Some(line) = lines.next() {
        let has_break = lines.peek().is_some();
        let line = line.strip_suffix('\r').unwrap_or(line);
        let line = line.trim_end_matches([' ', '\t']);
        let (line, soft_break) = match line.strip_suffix('=') {
            Some(line) => (line, true),
            None => (line, false),
        };
        unescape_qp(line.as_bytes(), &mut out);
        if has_break && !soft_break {
            out.extend_from_slice(b"\r\n");
        }
    }
    out
}

/// `=XX` → byte; a stray `=` is kept as is, as RFC 2045 asks of robust decoders.
fn unescape_qp(line: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < line.len() {
        if line[i] == b'='
            && let (Some(hi), Some(lo)) =
                (line.get(i + 1).and_then(|&c| hex_value(c)), line.get(i + 2).and_then(|&c| hex_value(c)))
        {
            out.push(hi << 4 | lo);
            i += 3;
            continue;
        }
        out.push(line[i]);
        i += 1;
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'A'..=b'F' => Some(c - b'A' + 10),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Standard-alphabet base64; line breaks and other stray characters are skipped.
fn decode_base64(input: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in input.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Decodes RFC 2047 `=?charset?B|Q?text?=` words, which mailers use for non-ASCII headers.
fn decode_encoded_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut after_word = false;
    while let Some(start) = rest.find("=?") {
        let (before, candidate) = rest.split_at(start);
        if let Some((decoded, consumed)) = parse_encoded_word(candidate) {
            // Blanks between two encoded words only separate them (RFC 2047 §6.2).
            if !(after_word && before.trim().is_empty()) {
                out.push_str(before);
            }
            out.push_str(&decoded);
            rest = &candidate[consumed..];
            after_word = true;
        } else {
            out.push_str(before);
            out.push_str("=?");
            rest = &candidate[2..];
            after_word = false;
        }
    }
    out.push_str(rest);
    out
}

fn parse_encoded_word(word: &str) -> Option<(String, usize)> {
    let inner = word.strip_prefix("=?")?;
    let (charset, after_charset) = inner.split_once('?')?;
    let (encoding, after_encoding) = after_charset.split_once('?')?;
    let end = after_encoding.find("?=")?;
    let text = &after_encoding[..end];
    if charset.is_empty() || charset.contains(char::is_whitespace) || text.contains(char::is_whitespace) {
        return None;
    }
    let bytes = match encoding {
        "B" | "b" => decode_base64(text),
        "Q" | "q" => {
            let mut out = Vec::new();
            unescape_qp(text.replace('_', " ").as_bytes(), &mut out);
            out
        }
        _ => return None,
    };
    let consumed = 2 + charset.len() + 1 + encoding.len() + 1 + end + 2;
    Some((decode_charset(&bytes, charset), consumed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;
    use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

    const WAIT: Duration = Duration::from_secs(5);

    /// A hand-driven SMTP client, so the tests see exactly what goes over the wire.
    struct RawClient {
        reader: BufReader<OwnedReadHalf>,
        writer: OwnedWriteHalf,
    }

    impl RawClient {
        async fn connect(sink: &SmtpSink) -> RawClient {
            let stream = TcpStream::connect(("127.0.0.1", sink.port())).await.unwrap();
            let (reader, writer) = stream.into_split();
            let mut client = RawClient { reader: BufReader::new(reader), writer };
            assert!(client.read_reply().await.starts_with("220 "));
            client
        }

        async fn send(&mut self, text: &str) {
            self.writer.write_all(text.as_bytes()).await.unwrap();
        }

        /// Reads one (possibly multi-line) reply and returns all its lines joined.
        async fn read_reply(&mut self) -> String {
            let mut reply = String::new();
            loop {
                let mut line = String::new();
                let n = tokio::time::timeout(WAIT, self.reader.read_line(&mut line))
                    .await
                    .expect("the sink should answer")
                    .unwrap();
                assert!(n > 0, "the sink hung up; got so far: {reply:?}");
                assert!(line.ends_with("\r\n"), "replies end in CRLF: {line:?}");
                reply.push_str(&line);
                if line.as_bytes().get(3) == Some(&b' ') {
                    return reply;
                }
            }
        }

        async fn command(&mut self, command: &str, expected_code: &str) -> String {
            self.send(&format!("{command}\r\n")).await;
            let reply = self.read_reply().await;
            assert!(reply.starts_with(expected_code), "{command:?} got {reply:?}, expected {expected_code}");
            reply
        }

        async fn send_mail(&mut self, from: &str, to: &[&str], data: &str) {
            self.command(&format!("MAIL FROM:<{from}>"), "250").await;
            for rcpt in to {
                self.command(&format!("RCPT TO:<{rcpt}>"), "250").await;
            }
            self.command("DATA", "354").await;
            self.send(data).await;
            self.command(".", "250").await;
        }
    }

    #[tokio::test]
    async fn a_message_sent_over_raw_smtp_is_captured_with_its_envelope() {
        let sink = SmtpSink::start().await.unwrap();
        let mut client = RawClient::connect(&sink).await;

        let ehlo = client.command("EHLO client.test", "250").await;
        assert!(ehlo.contains("250-PIPELINING\r\n"), "{ehlo}");
        assert!(ehlo.contains("250-8BITMIME\r\n"), "{ehlo}");
        assert!(ehlo.ends_with("250 SMTPUTF8\r\n"), "{ehlo}");

        client.command("MAIL FROM:<noreply@zauthy.test> SIZE=512 BODY=8BITMIME", "250").await;
        client.command("RCPT TO:<alice@example.com>", "250").await;
        client.command("rcpt to: <Bob@Example.com>", "250").await;
        client.command("DATA", "354").await;
        client
            .send(concat!(
                "From: zauthy <noreply@zauthy.test>\r\n",
                "To: alice@example.com, Bob@Example.com\r\n",
                "Subject: Verify your\r\n",
                " email address\r\n",
                "Content-Type: text/plain; charset=utf-8\r\n",
                "Content-Transfer-Encoding: quoted-printable\r\n",
                "\r\n",
                "Hello Alice,\r\n",
                "open https://zauthy.test/verify?token=3Dabc&next=3D%2F to verify, it is a ve=\r\n",
                "ry long line.\r\n",
                "..a line that starts with a dot\r\n",
                "Caf=C3=A9 =E2=9C=93\r\n",
                "\r\n",
            ))
            .await;
        client.command(".", "250").await;
        client.command("QUIT", "221").await;

        let mail = sink.wait_for_mail_to("alice@example.com", WAIT).await.unwrap();
        assert_eq!(mail.from, "noreply@zauthy.test");
        assert_eq!(mail.to, ["alice@example.com", "Bob@Example.com"]);
        assert!(mail.data.starts_with("From: zauthy <noreply@zauthy.test>\r\n"));
        assert!(
            mail.data.contains("\r\n.a line that starts with a dot\r\n"),
            "dot-stuffing is undone: {:?}",
            mail.data
        );
        assert!(mail.data.ends_with("Caf=C3=A9 =E2=9C=93\r\n\r\n"));
        assert_eq!(mail.subject().as_deref(), Some("Verify your email address"));
        assert_eq!(
            mail.text_body(),
            "Hello Alice,\n\
             open https://zauthy.test/verify?token=abc&next=%2F to verify, it is a very long line.\n\
             .a line that starts with a dot\n\
             Café ✓"
        );
        assert_eq!(sink.messages().len(), 1);
    }

    #[tokio::test]
    async fn several_messages_on_one_connection_are_recorded_and_rset_drops_a_transaction() {
        let sink = SmtpSink::start().await.unwrap();
        let mut client = RawClient::connect(&sink).await;
        client.command("HELO client.test", "250").await;

        client.send_mail("a@zauthy.test", &["one@example.com"], "Subject: first\r\n\r\nbody one\r\n").await;
        client.command("MAIL FROM:<dropped@zauthy.test>", "250").await;
        client.command("RCPT TO:<nobody@example.com>", "250").await;
        client.command("RSET", "250").await;
        client.command("NOOP", "250").await;
        client.send_mail("", &["two@example.com"], "Subject: second\r\n\r\nbody two\r\n").await;

        let messages = sink.wait_for(2, WAIT).await.unwrap();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].from, "a@zauthy.test");
        assert_eq!(messages[0].subject().as_deref(), Some("first"));
        assert_eq!(messages[0].text_body(), "body one");
        assert_eq!(messages[1].from, "", "the null reverse path is kept as empty");
        assert_eq!(messages[1].to, ["two@example.com"]);
        assert_eq!(messages[1].subject().as_deref(), Some("second"));
    }

    #[tokio::test]
    async fn pipelined_commands_sent_in_one_write_are_answered_in_order() {
        let sink = SmtpSink::start().await.unwrap();
        let mut client = RawClient::connect(&sink).await;
        client
            .send(concat!(
                "EHLO client.test\r\n",
                "MAIL FROM:<p@zauthy.test>\r\n",
                "RCPT TO:<x@example.com>\r\n",
                "RCPT TO:<y@example.com>\r\n",
                "DATA\r\n",
            ))
            .await;
        for expected in ["250-localhost", "250 ", "250 ", "250 ", "354 "] {
            let reply = client.read_reply().await;
            assert!(reply.starts_with(expected), "{reply:?} vs {expected:?}");
        }
        client.send("Subject: piped\r\n\r\nhi\r\n.\r\nQUIT\r\n").await;
        assert!(client.read_reply().await.starts_with("250 "));
        assert!(client.read_reply().await.starts_with("221 "));

        let mail = sink.wait_for_mail_to("Y@EXAMPLE.COM", WAIT).await.unwrap();
        assert_eq!(mail.to, ["x@example.com", "y@example.com"]);
        assert_eq!(mail.data, "Subject: piped\r\n\r\nhi\r\n");
    }

    #[tokio::test]
    async fn unknown_and_out_of_order_commands_are_refused_without_dropping_the_session() {
        let sink = SmtpSink::start().await.unwrap();
        let mut client = RawClient::connect(&sink).await;
        client.command("EHLO client.test", "250").await;
        client.command("VRFY root", "502").await;
        client.command("STARTTLS", "502").await;
        client.command("RCPT TO:<early@example.com>", "503").await;
        client.command("DATA", "503").await;
        client.command("MAIL FROM:<a@zauthy.test>", "250").await;
        client.command("DATA", "554").await;
        client.command("MAIL TO:<confused@example.com>", "501").await;
        client.command("NOOP", "250").await;
        client.command("QUIT", "221").await;

        let mut rest = Vec::new();
        client.reader.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "the sink closes after QUIT");
        assert!(sink.messages().is_empty());
    }

    #[tokio::test]
    async fn many_concurrent_connections_are_all_captured() {
        let sink = SmtpSink::start().await.unwrap();
        let mut clients = JoinSet::new();
        for i in 0..25 {
            let port = sink.port();
            clients.spawn(async move {
                let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
                let (reader, writer) = stream.into_split();
                let mut client = RawClient { reader: BufReader::new(reader), writer };
                client.read_reply().await;
                client.command("EHLO c", "250").await;
                for j in 0..2 {
                    client
                        .send_mail(
                            "s@zauthy.test",
                            &[format!("user{i}@example.com").as_str()],
                            &format!("Subject: {i}-{j}\r\n\r\nx\r\n"),
                        )
                        .await;
                }
                client.command("QUIT", "221").await;
            });
        }
        while let Some(joined) = clients.join_next().await {
            joined.unwrap();
        }

        let messages = sink.wait_for(50, WAIT).await.unwrap();
        assert_eq!(messages.len(), 50);
        let mut subjects: Vec<String> = messages.iter().filter_map(ReceivedMail::subject).collect();
        subjects.sort();
        subjects.dedup();
        assert_eq!(subjects.len(), 50);
    }

    #[tokio::test]
    async fn a_waiter_is_woken_by_a_message_that_arrives_after_it_started_waiting() {
        let sink = SmtpSink::start().await.unwrap();
        let port = sink.port();
        let waiter = sink.wait_for_mail_to("late@example.com", WAIT);
        let sender = async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            let (reader, writer) = stream.into_split();
            let mut client = RawClient { reader: BufReader::new(reader), writer };
            client.read_reply().await;
            client.send_mail("s@zauthy.test", &["late@example.com"], "Subject: late\r\n\r\nbody\r\n").await;
        };
        let (mail, ()) = tokio::join!(waiter, sender);
        assert_eq!(mail.unwrap().subject().as_deref(), Some("late"));
    }

    #[tokio::test]
    async fn waiting_for_more_messages_than_arrive_fails_after_the_timeout() {
        let sink = SmtpSink::start().await.unwrap();
        let mut client = RawClient::connect(&sink).await;
        client.send_mail("s@zauthy.test", &["only@example.com"], "Subject: only one\r\n\r\nx\r\n").await;

        let started = std::time::Instant::now();
        let error = sink.wait_for(2, Duration::from_millis(200)).await.unwrap_err().to_string();
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(error.contains("2 message(s)"), "{error}");
        assert!(error.contains("only one"), "the error lists what did arrive: {error}");

        let error = sink.wait_for_mail_to("someone-else@example.com", Duration::from_millis(50)).await.unwrap_err();
        assert!(error.to_string().contains("someone-else@example.com"));
    }

    #[tokio::test]
    async fn the_latest_message_to_an_address_is_returned() {
        let sink = SmtpSink::start().await.unwrap();
        let mut client = RawClient::connect(&sink).await;
        for subject in ["old", "new"] {
            client
                .send_mail("s@zauthy.test", &["Carol@Example.com"], &format!("Subject: {subject}\r\n\r\nx\r\n"))
                .await;
        }
        client.send_mail("s@zauthy.test", &["dave@example.com"], "Subject: other\r\n\r\nx\r\n").await;
        sink.wait_for(3, WAIT).await.unwrap();

        let mail = sink.wait_for_mail_to("carol@example.com", WAIT).await.unwrap();
        assert_eq!(mail.subject().as_deref(), Some("new"));
    }

    #[test]
    fn a_multipart_alternative_message_yields_its_decoded_plain_text_part() {
        let mail = ReceivedMail {
            from: "s@zauthy.test".to_owned(),
            to: vec!["r@example.com".to_owned()],
            data: concat!(
                "Subject: =?utf-8?b?UsOpaW5pdGlhbGlzZXIg?= =?utf-8?q?le_mot_de_passe_=E2=9C=93?=\r\n",
                "MIME-Version: 1.0\r\n",
                "Content-Type: multipart/alternative;\r\n",
                " boundary=\"b1;x\"\r\n",
                "\r\n",
                "This is the preamble.\r\n",
                "--b1;x\r\n",
                "Content-Type: text/html; charset=utf-8\r\n",
                "Content-Transfer-Encoding: quoted-printable\r\n",
                "\r\n",
                "<p>Hello</p>\r\n",
                "--b1;x\r\n",
                "Content-Type: text/plain; charset=utf-8\r\n",
                "Content-Transfer-Encoding: base64\r\n",
                "\r\n",
                "Q2xpY2sgaHR0cHM6Ly96YXV0aHkudGVzdC9yZXNldD90b2tlbj1hYmMgdG8gcmVzZXQg\r\n",
                "eW91ciBwYXNzd29yZC4KTWVyY2kg4pyTCg==\r\n",
                "--b1;x--\r\n",
                "epilogue\r\n",
            )
            .to_owned(),
        };
        assert_eq!(mail.subject().as_deref(), Some("Réinitialiser le mot de passe ✓"));
        assert_eq!(mail.text_body(), "Click https://zauthy.test/reset?token=abc to reset your password.\nMerci ✓");
    }

    #[test]
    fn nested_multipart_skips_attachments_and_falls_back_to_html() {
        let nested = concat!(
            "Content-Type: multipart/mixed; boundary=outer\r\n",
            "\r\n",
            "--outer\r\n",
            "Content-Type: text/plain\r\n",
            "Content-Disposition: attachment; filename=\"notes.txt\"\r\n",
            "\r\n",
            "not the body\r\n",
            "--outer\r\n",
            "Content-Type: multipart/alternative; boundary=inner\r\n",
            "\r\n",
            "--inner\r\n",
            "Content-Type: text/plain; charset=iso-8859-1\r\n",
            "Content-Transfer-Encoding: quoted-printable\r\n",
            "\r\n",
            "Gr=FC=DFe\r\n",
            "--inner--\r\n",
            "--outer--\r\n",
        );
        let html_only =
            concat!("Content-Type: text/html\r\n", "Content-Transfer-Encoding: 8bit\r\n", "\r\n", "<b>Grüße</b>\r\n",);
        let mail = |data: &str| ReceivedMail { from: String::new(), to: Vec::new(), data: data.to_owned() };
        assert_eq!(mail(nested).text_body(), "Grüße");
        assert_eq!(mail(html_only).text_body(), "<b>Grüße</b>");
        assert_eq!(mail(html_only).subject(), None);
    }

    #[test]
    fn the_hand_written_decoders_handle_their_edge_cases() {
        assert_eq!(decode_base64(""), b"");
        assert_eq!(decode_base64("Zg=="), b"f");
        assert_eq!(decode_base64("Zm8="), b"fo");
        assert_eq!(decode_base64("Zm9v\r\nYmFy"), b"foobar");
        assert_eq!(decode_quoted_printable("a=3Db =\r\nc  \r\nd=ZZ="), b"a=b c\r\nd=ZZ");
        assert_eq!(decode_quoted_printable("x=\ny"), b"xy");
        assert_eq!(decode_encoded_words("plain =?bogus"), "plain =?bogus");
        assert_eq!(decode_encoded_words("a =?ISO-8859-1?Q?=E9t=E9?= b"), "a été b");
        assert_eq!(parse_path("FROM:<a@b> SIZE=1", "FROM:").as_deref(), Some("a@b"));
        assert_eq!(parse_path("from: a@b", "FROM:").as_deref(), Some("a@b"));
        assert_eq!(parse_path("TO:<a@b>", "FROM:"), None);
    }
}
