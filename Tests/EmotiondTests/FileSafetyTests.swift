import Foundation
import XCTest

/// Input and output files are never a reason to hang, to overwrite what the user gave, or to leave
/// temporary files behind (issue #15, rows 3-11 and 19), checked with the release binary.
final class FileSafetyTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws { dir = try CLI.tempDir() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func path(_ n: String) -> String { dir.appendingPathComponent(n).path }
    func entries(_ d: String? = nil) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: d ?? dir.path).sorted()
    }

    /// Runs the binary under timeout(1), so a regression to a hang fails (status 124) instead of blocking the suite.
    func run(_ args: [String], env: [String: String] = [:], limit: Int = 120) throws -> CLI.Result {
        try CLI.run(["\(limit)", CLI.binary] + args, executable: "/usr/bin/timeout", env: env)
    }

    func python(_ script: String, _ args: [String], venv: Bool = false) throws {
        let r = try CLI.run(["-c", script] + args, executable: venv ? CLI.python : "/usr/bin/python3")
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    // MARK: row 3 - non-regular files

    func testFIFOsAreRefusedNotWaitedOn() throws {
        let fifo = path("input.fifo")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        var r = try run(["batch", fifo, "--log", path("out.ndjson"), "--annotate", path("out.mp4")], limit: 30)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("cannot open video \(fifo): is a named pipe (FIFO), not a regular file"), r.stderr)
        XCTAssertEqual(try entries(), ["input.fifo"], "no output and no .partial file")

        r = try run(["image", fifo], limit: 30)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("cannot read image \(fifo): is a named pipe (FIFO), not a regular file"), r.stderr)

        r = try run(["image", CLI.media("single_face.jpg"), "--model", fifo], limit: 30)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("cannot read model file \(fifo): is a named pipe (FIFO), not a regular file"), r.stderr)

        r = try run(["image", CLI.media("single_face.jpg"), "--cascade", fifo], limit: 30)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("cascade \(fifo) cannot be loaded: is a named pipe (FIFO), not a regular file"), r.stderr)
    }

    func testDevicesAndDirectoriesAreRefused() throws {
        var r = try run(["image", CLI.media("single_face.jpg"), "--model", "/dev/zero"], limit: 30)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("cannot read model file /dev/zero: is a device, not a regular file"), r.stderr)
        r = try run(["image", CLI.media("single_face.jpg"), "--cascade", "/dev/zero"], limit: 30)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("cascade /dev/zero cannot be loaded: is a device, not a regular file"), r.stderr)
        r = try run(["image", "/dev/zero", dir.path], limit: 30)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("cannot read image /dev/zero: is a device, not a regular file"), r.stderr)
        XCTAssertTrue(r.stderr.contains("cannot read image \(dir.path): is a directory"), r.stderr)
        r = try run(["batch", "/dev/zero", "--log", path("out.ndjson")], limit: 30)
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("cannot open video /dev/zero: is a device, not a regular file"), r.stderr)
        XCTAssertEqual(try entries(), [])
    }

    // MARK: rows 4, 5, 7 - outputs that are inputs or each other

    /// A copy of a clip in the test directory, with its bytes for comparison afterwards.
    func inputCopy(_ name: String, of source: String = CLI.media("single_face.mp4")) throws -> (String, Data) {
        let data = try Data(contentsOf: URL(fileURLWithPath: source))
        try data.write(to: URL(fileURLWithPath: path(name)))
        return (path(name), data)
    }

    func assertRefused(_ args: [String], _ message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try run(["batch"] + args)
        XCTAssertEqual(r.status, 1, r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(message), r.stderr, file: file, line: line)
    }

    func testOutputThatIsAnInputIsRefused() throws {
        let (input, bytes) = try inputCopy("in.mp4")
        let before = try entries()
        for flag in ["--annotate", "--log", "--events", "--plot", "--summary-json"] {
            try assertRefused([input, flag, input], "\(flag) \(input) is the input video \(input): refusing to overwrite an input")
        }
        // Through a symlink, a hard link and a relative path with `..`: same file, same refusal.
        XCTAssertEqual(symlink(input, path("link.mp4")), 0)
        XCTAssertEqual(link(input, path("hard.mp4")), 0)
        try assertRefused([input, "--annotate", path("link.mp4")], "is the input video \(input)")
        try assertRefused([input, "--log", path("hard.mp4")], "is the input video \(input)")
        try assertRefused([input, "--log", dir.path + "/../" + dir.lastPathComponent + "/in.mp4"], "is the input video")
        // The model is an input too.
        let (model, modelBytes) = try inputCopy("m.onnx", of: CLI.root.appendingPathComponent("models/emotion-fer4.onnx").path)
        try assertRefused([input, "--model", model, "--log", model], "--log \(model) is the model \(model)")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: input)), bytes, "input video untouched")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: model)), modelBytes, "model untouched")
        XCTAssertEqual(try entries(), (before + ["hard.mp4", "link.mp4", "m.onnx"]).sorted(), "nothing created")
    }

    func testNameTemplateCollisionIsRefusedBeforeAnyWork() throws {
        for d in ["a", "b"] {
            try FileManager.default.createDirectory(atPath: path(d), withIntermediateDirectories: true)
            XCTAssertEqual(symlink(CLI.media("single_face.mp4"), path("\(d)/x.mp4")), 0)
        }
        let (a, b) = (path("a/x.mp4"), path("b/x.mp4"))
        try assertRefused([a, b, "--annotate", path("out-{name}.mp4"), "--log", path("l.ndjson")],
                          "--annotate \(path("out-{name}.mp4")) gives the same file \(path("out-x.mp4")) for \(a) and \(b)")
        try assertRefused([path("a/x.mp4"), path("b/x.mp4"), "--plot", path("p-{name}.png")], "gives the same file \(path("p-x.png"))")
        XCTAssertEqual(try entries(), ["a", "b"], "no output, no .partial file")
        // Different names are fine: both outputs are written.
        XCTAssertEqual(rename(path("b/x.mp4"), path("b/y.mp4")), 0)
        let r = try run(["batch", path("a/x.mp4"), path("b/y.mp4"), "--plot", path("p-{name}.png"), "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try entries(), ["a", "b", "p-x.png", "p-y.png"])
    }

    func testSameFileForTwoOutputsIsRefused() throws {
        let video = CLI.media("single_face.mp4")
        try assertRefused([video, "--log", path("f.ndjson"), "--events", path("f.ndjson")],
                          "--log \(path("f.ndjson")) and --events \(path("f.ndjson")) are the same file")
        XCTAssertEqual(try entries(), [], "nothing created")
        // An existing file keeps its content, also when named through a symlinked directory.
        try Data("keep\n".utf8).write(to: URL(fileURLWithPath: path("f.ndjson")))
        XCTAssertEqual(symlink(dir.path, path("alias")), 0)
        try assertRefused([video, "--summary-json", path("f.ndjson"), "--events", path("alias/f.ndjson")], "are the same file")
        XCTAssertEqual(try String(contentsOfFile: path("f.ndjson"), encoding: .utf8), "keep\n")
        XCTAssertEqual(try entries(), ["alias", "f.ndjson"])
    }

    // MARK: row 6 - signals

    /// Starts a batch run writing every output into `out`, waits until the annotated video's temporary
    /// file exists (frames are being processed), then sends `sig`.
    func interruptedBatch(_ sig: Int32) throws -> (status: Int32?, left: [String], stderr: String) {
        let out = path("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let args = ["batch", CLI.media("WolfgangLanger_Pexels.mp4"), "--annotate", "\(out)/w.mp4", "--log", "\(out)/w.ndjson",
                    "--events", "\(out)/e.ndjson", "--plot", "\(out)/w.png", "--quiet"]
        let child = try Child(CLI.binary, args, dir: dir, name: "batch")
        let end = Date().addingTimeInterval(60)
        while Date() < end, !(try entries(out)).contains(where: { $0.hasPrefix(".w.mp4.partial-") }) { usleep(20_000) }
        XCTAssertTrue(try entries(out).contains { $0.hasPrefix(".w.mp4.partial-") }, "batch started writing")
        usleep(100_000)
        child.signal(sig)
        let status = child.wait(10)
        return (status, try entries(out), child.stderr)
    }

    func testSIGINTRemovesTemporaryFiles() throws {
        let (status, left, stderr) = try interruptedBatch(SIGINT)
        XCTAssertEqual(status, 130, stderr)
        XCTAssertEqual(left, [], "every .partial file removed")
        XCTAssertTrue(stderr.contains("interrupted (SIGINT)"), stderr)
    }

    func testSIGTERMRemovesTemporaryFiles() throws {
        let (status, left, stderr) = try interruptedBatch(SIGTERM)
        XCTAssertEqual(status, 143, stderr)
        XCTAssertEqual(left, [], "every .partial file removed")
    }

    /// SIGKILL cannot be handled: what stays behind are hidden .partial files, never a file under a final name.
    func testSIGKILLLeavesNothingThatLooksFinal() throws {
        let (status, left, _) = try interruptedBatch(SIGKILL)
        XCTAssertNotNil(status)
        XCTAssertFalse(left.isEmpty)
        for f in left { XCTAssertTrue(f.hasPrefix(".") && f.contains(".partial-"), f) }
    }

    // MARK: row 8 - the daemon's log through a symlink

    func testDaemonLogSymlinkIsRefused() throws {
        let target = path("precious.txt")
        let text = "line one\nline two, no newline at the end"
        try text.write(toFile: target, atomically: true, encoding: .utf8)
        XCTAssertEqual(symlink(target, path("frames.ndjson")), 0)
        let cfg = path("emotiond.yaml")
        try """
        camera:
          source: \(CLI.media("single_face.mp4"))
        outputs:
          log:
            path: \(path("frames.ndjson"))
        """.write(toFile: cfg, atomically: true, encoding: .utf8)
        let r = try run(["run", "--config", cfg], limit: 60)
        XCTAssertNotEqual(r.status, 0, r.stderr)
        XCTAssertNotEqual(r.status, 124, "the daemon must refuse at start, not run")
        XCTAssertTrue(r.stderr.contains("outputs.log.path"), r.stderr)
        // Refused by the start checks (shared with check-config); the O_NOFOLLOW open behind them is
        // tested in SinksTests, where no start check runs first.
        XCTAssertTrue(r.stderr.contains("\(path("frames.ndjson")) is a symbolic link"), r.stderr)
        XCTAssertEqual(try String(contentsOfFile: target, encoding: .utf8), text, "the link's target is untouched")
    }

    // MARK: row 9 - decompression bombs

    /// A PNG declaring 20000×20000 gray pixels whose rows are all zero: ~400 KB on disk, 400 MB decoded
    /// (the old binary peaked at 2.6 GB). The size must be refused from the header, before decoding.
    func testHugePNGRefusedFromHeader() throws {
        let png = path("bomb.png")
        try python("""
        import struct, sys, zlib
        w = h = 20000
        def chunk(t, d): return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
        z = zlib.compressobj(9)
        row = bytes(w + 1)
        idat = b''.join(z.compress(row) for _ in range(h)) + z.flush()
        ihdr = struct.pack('>IIBBBBB', w, h, 8, 0, 0, 0, 0)
        open(sys.argv[1], 'wb').write(b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', idat) + chunk(b'IEND', b''))
        """, [png])
        let size = try XCTUnwrap(FileManager.default.attributesOfItem(atPath: png)[.size] as? Int)
        XCTAssertLessThan(size, 1 << 20)
        let r = try CLI.run(["-f", "peak_rss_kib=%M", "/usr/bin/timeout", "60", CLI.binary, "image", png],
                            executable: "/usr/bin/time")
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("cannot read image \(png): image is 20000×20000 pixels, above the limit of 67108864"),
                      r.stderr)
        let kib = r.stderr.split(separator: "\n").compactMap { $0.hasPrefix("peak_rss_kib=") ? Int($0.dropFirst(13)) : nil }
            .last
        XCTAssertLessThan(kib ?? .max, 200 * 1024, "nothing decoded (peak RSS \((kib ?? 0) / 1024) MiB)")
    }

    /// The header probe reads the exact size of every format it knows (the photo is 1000×667 = 667000 px):
    /// at the limit all decode, one pixel below all are refused before decoding; the env var works too.
    func testPixelLimitFromHeaderOfEachFormat() throws {
        let src = CLI.media("multi_face.jpg")
        let names = ["p.png", "p.bmp", "p.webp", "p.tiff", "p.ppm", "p.pgm", "p.sr", "progressive.jpg", "p.jpg"]
        try python("""
        import sys, cv2
        img = cv2.imread(sys.argv[1])
        for n in sys.argv[2:]:
            if n.startswith('progressive'): ok = cv2.imwrite(n, img, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
            elif n.endswith('.pgm'): ok = cv2.imwrite(n, cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
            else: ok = cv2.imwrite(n, img)
            assert ok, n
        """, [src] + names.map(path), venv: true)
        let files = names.map(path)
        var r = try run(["image", "--max-pixels", "667000"] + files)
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(r.stdout.split(separator: "\n").count, files.count)
        r = try run(["image", "--max-pixels", "666999"] + files)
        XCTAssertEqual(r.status, 1)
        for f in files {
            let message = "cannot read image \(f): image is 1000×667 pixels, above the limit of 666999"
            XCTAssertTrue(r.stderr.contains(message), "\(f): \(r.stderr)")
        }
        XCTAssertEqual(r.stdout, "")
        r = try run(["image", path("p.png")], env: ["EMOTIOND_MAX_PIXELS": "1000"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("above the limit of 1000"), r.stderr)
    }

    /// The header reader sees untrusted bytes first: every format, cut at 0-600 bytes and with random
    /// header bytes overwritten (seeded), must give a JSON line or a named error, never a crash or hang;
    /// a size refusal must name a size that really is above the limit.
    func testImageHeaderFuzz() throws {
        let names = ["f.png", "f.bmp", "f.webp", "f.tiff", "f.ppm", "f.pgm", "f.sr", "f.jpg"]
        try python("""
        import os, random, sys, cv2
        img = cv2.resize(cv2.imread(sys.argv[1]), (200, 133))
        rnd = random.Random(15)
        for n in sys.argv[2:]:
            cv2.imwrite(n, cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if n.endswith('.pgm') else img)
            data = open(n, 'rb').read()
            base, ext = os.path.splitext(n)
            for cut in [0, 1, 2, 3, 4, 6, 8, 12, 16, 20, 24, 26, 28, 30, 32, 40, 64, 128, 300, 600]:
                open(f'{base}-cut{cut}{ext}', 'wb').write(data[:cut])
            for k in range(25):
                b = bytearray(data)
                for _ in range(rnd.randint(1, 4)):
                    b[rnd.randrange(min(64, len(b)))] = rnd.choice([0, 0xFF, 0x7F, 0x80, rnd.randrange(256)])
                open(f'{base}-mut{k}{ext}', 'wb').write(bytes(b))
        """, [CLI.media("multi_face.jpg")] + names.map(path), venv: true)
        let files = try entries().filter { $0.contains("-cut") || $0.contains("-mut") }.map(path)
        XCTAssertEqual(files.count, names.count * 45)
        let r = try run(["image", "--max-pixels", "1000000"] + files, limit: 300)
        XCTAssertTrue(r.status == 0 || r.status == 1, "exit status \(r.status): \(r.stderr.suffix(2000))")
        let errors = r.stderr.split(separator: "\n").filter { $0.hasPrefix("emotiond: cannot read image ") }
        XCTAssertEqual(r.stdout.split(separator: "\n").count + errors.count, files.count, String(r.stderr.suffix(2000)))
        for e in errors {
            guard let m = e.range(of: #"image is (\d+)×(\d+) pixels"#, options: .regularExpression) else { continue }
            let dims = e[m].split(separator: " ")[2].split(separator: "×").compactMap { Int($0) }
            XCTAssertTrue(dims.count == 2 && dims[0].multipliedReportingOverflow(by: dims[1]).overflow
                          || dims[0] * dims[1] > 1_000_000, String(e))
        }
    }

    // MARK: row 11 - models whose output is not a number

    /// Writes an ONNX model (python onnx) mapping [N,1,48,48] to 7 scores. `nan`: a NaN bias, so every
    /// score is NaN. `gray-only`: 1 / relu(0.001 - |mean - mean of a gray-128 crop|), finite for a
    /// uniform gray crop (the load-time probe) and infinite for any real face.
    func model(_ kind: String) throws -> String {
        let p = path("\(kind).onnx")
        try python("""
        import sys, numpy as np, onnx
        from onnx import helper as h, numpy_helper as nh, TensorProto as T
        kind, out = sys.argv[1], sys.argv[2]
        c = lambda n, v: nh.from_array(np.array(v, np.float32), n)
        inits = [c('W', np.ones((7, 1))), c('B', np.full(7, np.nan if kind == 'nan' else 0.0)),
                 c('g', [128 / 255]), c('eps', [1e-3]), c('minus', [-1.0]), c('one', [1.0])]
        nodes = [h.make_node('GlobalAveragePool', ['x'], ['gap']), h.make_node('Flatten', ['gap'], ['m'])]
        if kind == 'nan':
            nodes.append(h.make_node('Gemm', ['m', 'W', 'B'], ['y'], transB=1))
        else:
            nodes += [h.make_node('Sub', ['m', 'g'], ['d']), h.make_node('Mul', ['d', 'minus'], ['nd']),
                      h.make_node('Relu', ['d'], ['pd']), h.make_node('Relu', ['nd'], ['pn']),
                      h.make_node('Add', ['pd', 'pn'], ['ad']), h.make_node('Sub', ['eps', 'ad'], ['e']),
                      h.make_node('Relu', ['e'], ['b']), h.make_node('Div', ['one', 'b'], ['r']),
                      h.make_node('Gemm', ['r', 'W', 'B'], ['y'], transB=1)]
        g = h.make_graph(nodes, 'g', [h.make_tensor_value_info('x', T.FLOAT, ['N', 1, 48, 48])],
                         [h.make_tensor_value_info('y', T.FLOAT, ['N', 7])], inits)
        m = h.make_model(g, opset_imports=[h.make_opsetid('', 13)])
        m.ir_version = 8
        onnx.save(m, out)
        """, [kind, p], venv: true)
        return p
    }

    func testNaNModelRefusedAtLoad() throws {
        let m = try model("nan")
        let r = try run(["batch", CLI.media("single_face.mp4"), "--model", m, "--log", path("out.ndjson")])
        XCTAssertEqual(r.status, 1, r.stderr)
        let message = "model \(m): invalid model: the model produces a non-finite score (nan) even for a uniform gray face"
        XCTAssertTrue(r.stderr.contains(message), r.stderr)
        XCTAssertEqual(try entries(), ["nan.onnx"], "refused before any output")
    }

    func testNaNScoresForAFaceAreAModelError() throws {
        let m = try model("gray-only")
        let r = try run(["batch", CLI.media("single_face.mp4"), "--model", m, "--log", path("out.ndjson"),
                         "--annotate", path("out.mp4")])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("invalid model: model \(m) produced a non-finite score (inf) for a face"), r.stderr)
        XCTAssertFalse(r.stderr.contains("nan"), "no encoder error about NaN: \(r.stderr)")
        XCTAssertEqual(try entries(), ["gray-only.onnx"], "no output claims success, no .partial left")
    }

    // MARK: row 19 - variable frame rate

    func ffmpeg(_ args: [String]) throws {
        let r = try CLI.run(["-v", "error", "-y"] + args, executable: "/usr/bin/ffmpeg")
        XCTAssertEqual(r.status, 0, r.stderr)
    }

    func probe(_ file: String, _ entries: String, count: Bool = false) throws -> [String] {
        let r = try CLI.run(["-v", "error", "-select_streams", "v:0"] + (count ? ["-count_frames"] : [])
                            + ["-show_entries", entries, "-of", "default=nw=1:nk=1", file], executable: "/usr/bin/ffprobe")
        XCTAssertEqual(r.status, 0, r.stderr)
        return r.stdout.split(separator: "\n").map(String.init)
    }

    /// 36 frames at 30 fps, then 36 at 2 fps, H.264 with B-frames in Matroska (which stores no frame count, so
    /// OpenCV estimates duration × 30 fps ≈ 562 frames; and OpenCV 4.6 reports timestamp 0 for the frames the
    /// decoder drains at the end). All 72 frames must be processed and the run must succeed.
    func testVariableFrameRateMKV() throws {
        let vfr = path("vfr.mkv")
        try ffmpeg(["-i", CLI.media("single_face.mp4"), "-vf", "setpts='if(lt(N,36),N/30,1.2+(N-36)/2)/TB'",
                    "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "veryfast", vfr])
        let frames = try XCTUnwrap(Int(try probe(vfr, "stream=nb_read_frames", count: true).first ?? ""))
        XCTAssertEqual(frames, 72)
        let duration = try XCTUnwrap(Double(try probe(vfr, "format=duration").first ?? ""))
        XCTAssertGreaterThan(duration * 30, Double(frames) / 0.9, "the container's estimate is far above the real count")
        let log = path("vfr.ndjson")
        let r = try run(["batch", vfr, "--log", log, "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertEqual(try CLI.lines(log).count, frames)
    }

    /// The estimate must still catch a cut file: a Matroska copy of a clip, cut in half.
    func testTruncatedMKVStillRefused() throws {
        let mkv = path("input-full.mkv")
        try ffmpeg(["-i", CLI.media("WolfgangLanger_Pexels.mp4"), "-an", "-c:v", "copy", mkv])
        XCTAssertEqual(try probe(mkv, "stream=nb_frames").first, "N/A", "Matroska stores no frame count")
        let full = try Data(contentsOf: URL(fileURLWithPath: mkv))
        let cut = path("input-cut.mkv")
        try full.prefix(full.count / 2).write(to: URL(fileURLWithPath: cut))
        let r = try run(["batch", cut, "--log", path("cut.ndjson"), "--quiet"])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertTrue(r.stderr.contains("\(cut): stream ended after"), r.stderr)
        XCTAssertTrue(r.stderr.contains("(truncated or corrupt file)"), r.stderr)
        XCTAssertEqual(try entries().filter { !$0.hasPrefix("input") }, [])
    }
}
