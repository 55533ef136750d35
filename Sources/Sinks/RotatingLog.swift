import Foundation

/// Append-only NDJSON log with size-based rotation, for the daemon.
///
/// Lines are batched (`flushEvery`) and handed to the kernel with one write(2) per batch,
/// always ending at a line boundary, so a crash or SIGKILL loses at most the unflushed
/// lines and never leaves half a line. A short write (disk full) is rolled back with
/// ftruncate. On open, a torn tail left by something else is cut back to the last newline.
public final class RotatingLog {
    public let path: String
    public let maxBytes: Int
    public let keep: Int
    public let flushEvery: Int
    private var fd: Int32 = -1
    private var size = 0
    private var pending = Data()
    private var pendingLines = 0
    private let encoder: JSONEncoder
    public private(set) var writeErrors = 0
    /// Lines lost with failed writes (each failed batch's lines), for the daemon's metrics.
    public private(set) var droppedLines = 0

    public init(path: String, maxBytes: Int, keep: Int, flushEvery: Int) throws {
        self.path = path; self.maxBytes = maxBytes; self.keep = keep; self.flushEvery = max(1, flushEvery)
        encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        try open()
    }

    deinit { try? flush(); if fd >= 0 { close(fd) } }

    /// O_NOFOLLOW: a symlink planted at the log path would otherwise have its target's tail cut
    /// by repairTail and NDJSON appended to it. O_NONBLOCK: a FIFO there must not block the open.
    private func open() throws {
        fd = Foundation.open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0o640)
        guard fd >= 0 else {
            let why = errno == ELOOP ? "is a symbolic link (refused: give the real path of the log)"
                : String(cString: strerror(errno))
            throw SinkError.cannotCreate(path: path, reason: why)
        }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd); fd = -1
            throw SinkError.cannotCreate(path: path, reason: "not a regular file")
        }
        _ = fcntl(fd, F_SETFL, O_APPEND)  // back to blocking writes
        size = Int(st.st_size)
        try repairTail()
    }

    /// Cuts a torn last line (no trailing newline) back to the previous newline.
    private func repairTail() throws {
        guard size > 0 else { return }
        // Read through our own descriptor: reopening the path could reach a different file.
        let rfd = fd
        var pos = size
        var buf = [UInt8](repeating: 0, count: 4096)
        while pos > 0 {
            let n = min(4096, pos)
            pos -= n
            guard pread(rfd, &buf, n, off_t(pos)) == n else { return }
            if let i = buf[0..<n].lastIndex(of: 0x0A) {
                let keepTo = pos + i + 1
                if keepTo < size { ftruncate(fd, off_t(keepTo)); size = keepTo }
                return
            }
            if pos + n == size && n == size { break }
        }
        ftruncate(fd, 0); size = 0
    }

    private func rotate() throws {
        close(fd); fd = -1
        if keep > 0 {
            for i in stride(from: keep - 1, through: 1, by: -1) { rename("\(path).\(i)", "\(path).\(i + 1)") }
            rename(path, "\(path).1")
        } else {
            unlink(path)
        }
        try open()
    }

    public func write<T: Encodable>(_ value: T) throws {
        var d = try encoder.encode(value)
        d.append(0x0A)
        pending.append(d)
        pendingLines += 1
        if pendingLines >= flushEvery { try flush() }
    }

    /// Hands buffered lines to the kernel (whole lines only).
    public func flush() throws {
        guard !pending.isEmpty else { return }
        do {
            // A reopen that failed at the last rotation (fd -1) is retried here; until it works every
            // batch is dropped and counted, never kept growing in memory.
            if fd < 0 { try open() }
            if size > 0 && size + pending.count > maxBytes { try rotate() }
        } catch {
            writeErrors += 1
            droppedLines += pendingLines
            pending.removeAll(); pendingLines = 0
            throw error
        }
        let before = size
        let n = pending.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        if n != pending.count {
            let why = n < 0 ? String(cString: strerror(errno)) : "short write (\(n) of \(pending.count) bytes; disk full?)"
            if n > 0 { ftruncate(fd, off_t(before)) }  // never leave half a line
            writeErrors += 1
            droppedLines += pendingLines
            pending.removeAll(); pendingLines = 0
            throw SinkError.writeFailed(path: path, reason: why)
        }
        size += n
        pending.removeAll(keepingCapacity: true); pendingLines = 0
    }
}
