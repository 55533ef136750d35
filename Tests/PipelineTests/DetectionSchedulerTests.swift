import EmotionCore
import Foundation
@testable import Pipeline
import Settings
import XCTest

/// A scripted detector: the scene says where the faces are in each frame; every call is recorded.
/// Full-frame passes can be held at a gate (to prove a scheduler does not wait for them) or slowed
/// by a random delay (to prove a result does not depend on the worker's timing).
final class ScriptedDetector: FaceDetecting, @unchecked Sendable {
    enum Call: Equatable { case full(Int), near(Int), region(Int) }
    let scene: (Int) -> [FaceBox]
    let shared: Shared

    final class Shared: @unchecked Sendable {
        let lock = NSLock()
        var calls: [Call] = []
        var gate: DispatchSemaphore?
        var jitter = false
        func record(_ c: Call) { lock.lock(); calls.append(c); lock.unlock() }
        var snapshot: [Call] { lock.lock(); defer { lock.unlock() }; return calls }
    }

    init(scene: @escaping (Int) -> [FaceBox], shared: Shared = Shared()) { self.scene = scene; self.shared = shared }

    func faces(in frame: Frame) throws -> [FaceBox] {
        if let gate = shared.gate { _ = gate.wait(timeout: .now() + 10) }
        if shared.jitter { usleep(UInt32.random(in: 0...3000)) }
        shared.record(.full(frame.index))
        return scene(frame.index)
    }

    func faces(in frame: Frame, near box: FaceBox, minScaleFactor: Double) throws -> [FaceBox] {
        shared.record(.near(frame.index))
        let side = Double(max(box.width, box.height))
        return scene(frame.index).filter { f in
            let s = Double(max(f.width, f.height))
            return box.grown(by: 0.2).contains(f) && s >= 0.75 * side && s <= 4.0 / 3 * side
        }
    }

    func faces(in frame: Frame, region: FaceBox) throws -> [FaceBox] {
        shared.record(.region(frame.index))
        return scene(frame.index).filter { region.contains($0) }
    }

    func copy() throws -> FaceDetecting { ScriptedDetector(scene: scene, shared: shared) }
}

extension FaceBox {
    func contains(_ o: FaceBox) -> Bool {
        o.x >= x && o.y >= y && o.x + o.width <= x + width && o.y + o.height <= y + height
    }
}

final class DetectionSchedulerTests: XCTestCase {
    let face = FaceBox(x: 100, y: 100, width: 80, height: 80)
    let other = FaceBox(x: 400, y: 200, width: 80, height: 80)
    let neutral = EmotionScores([0, 0, 0, 0, 0, 0, 1])

    func frame(_ i: Int) -> Frame { Frame(width: 640, height: 480, format: .gray8, pixels: [], index: i, mediaTime: Double(i) / 30) }

    /// Runs frames 0..<n through `scheduler` and a real tracker; returns each frame's faces.
    func run(_ scheduler: DetectionScheduler, frames n: Int) throws -> [[FaceBox]] {
        let tracker = Tracker(config: TrackerConfig())
        var out: [[FaceBox]] = []
        for i in 0..<n {
            let boxes = try scheduler.faces(in: frame(i), tracks: tracker.tracks)
            _ = tracker.update(boxes: boxes, scores: boxes.map { _ in neutral }, mediaTime: Double(i) / 30)
            out.append(boxes)
        }
        return out
    }

    func fullFrames(_ d: ScriptedDetector) -> [Int] {
        d.shared.snapshot.compactMap { if case let .full(i) = $0 { return i } else { return nil } }
    }

    /// A face that stays put: a full pass on the first frame and every `fullEvery` frames after;
    /// the frames between only search around the track.
    func testInLoopFullPassEveryNFramesOtherwiseAroundTracks() throws {
        let d = ScriptedDetector(scene: { _ in [self.face] })
        let faces = try run(InLoopScheduler(detector: d, fullEvery: 5), frames: 20)
        XCTAssertEqual(fullFrames(d), [0, 5, 10, 15])
        XCTAssertEqual(d.shared.snapshot.filter { if case .near = $0 { return true } else { return false } }.count, 16)
        XCTAssertTrue(faces.allSatisfy { $0 == [face] })
    }

    /// A face that jumps out of its track's neighbourhood gets a full pass in that very frame.
    func testInLoopLostTrackGetsFullPassAtOnce() throws {
        let d = ScriptedDetector(scene: { $0 < 7 ? [self.face] : [self.other] })
        let faces = try run(InLoopScheduler(detector: d, fullEvery: 25), frames: 10)
        // (While the old track waits out its max age, every frame gets a full pass too.)
        XCTAssertEqual(Array(fullFrames(d).prefix(2)), [0, 7])
        XCTAssertEqual(faces[7], [other])
    }

    /// Pipelined: a face appearing away from the track joins exactly `lookBehind` frames after the
    /// pass that found it started — never earlier, whatever the worker's timing — and the faces of
    /// every frame are the same from run to run.
    func testPipelinedResultsDoNotDependOnWorkerTiming() throws {
        let scene: (Int) -> [FaceBox] = { $0 < 10 ? [self.face] : [self.face, self.other] }
        var runs: [[[FaceBox]]] = []
        for _ in 0..<3 {
            let d = ScriptedDetector(scene: scene)
            d.shared.jitter = true
            runs.append(try run(PipelinedScheduler(detector: d, fullEvery: 5, lookBehind: 4), frames: 30))
        }
        XCTAssertEqual(runs[0], runs[1])
        XCTAssertEqual(runs[0], runs[2])
        // Passes start at frames 0 (nothing tracked: waited for), 5, 10, …; the one started at
        // frame 10 is the first to see `other`, and it joins 4 frames later.
        let firstWithOther = runs[0].firstIndex { $0.contains(other) }
        XCTAssertEqual(firstWithOther, 14)
    }

    /// Background: a frame never waits for the full pass; the pass's faces join at the first
    /// frame after it finishes.
    func testBackgroundNeverWaitsForTheFullPass() throws {
        let d = ScriptedDetector(scene: { $0 < 3 ? [self.face] : [self.face, self.other] })
        let sched = try BackgroundScheduler(detector: d, fullEvery: 5)
        let tracker = Tracker(config: TrackerConfig())
        func step(_ i: Int) throws -> [FaceBox] {
            let b = try sched.faces(in: frame(i), tracks: tracker.tracks)
            _ = tracker.update(boxes: b, scores: b.map { _ in neutral }, mediaTime: Double(i) / 30)
            return b
        }
        // Frame 0: nothing tracked; the pass starts on the worker, the frame goes on with nothing.
        d.shared.gate = DispatchSemaphore(value: 0)
        XCTAssertEqual(try step(0), [])
        // The pass is held at the gate; frames keep coming without it.
        XCTAssertEqual(try step(1), [])
        XCTAssertEqual(fullFrames(d), [])
        d.shared.gate?.signal()
        d.shared.gate = nil
        while sched.fullPasses < 1 { usleep(1000) }
        XCTAssertEqual(try step(2), [face], "the finished pass's face joins")
        // From now on the track is searched around on every frame.
        XCTAssertEqual(try step(3), [face])
    }

    /// Resetting (end of a source) waits for a pending pipelined pass and starts a new scene.
    func testPipelinedResetDropsThePendingPass() throws {
        let d = ScriptedDetector(scene: { _ in [self.face] })
        let sched = try PipelinedScheduler(detector: d, fullEvery: 2, lookBehind: 10)
        _ = try run(sched, frames: 4)
        sched.reset()
        let before = fullFrames(d).count
        // A fresh tracker has no tracks: the next frame gets its own full pass, waited for.
        XCTAssertEqual(try sched.faces(in: frame(100), tracks: []), [face])
        XCTAssertEqual(fullFrames(d).count, before + 1)
        XCTAssertEqual(fullFrames(d).last, 100)
    }
}
