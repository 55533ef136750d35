import EmotionCore
import Foundation
import GRDB
import Sinks

/// Track events kept in SQLite (`history.path`) for GET /api/events.
///
/// WAL mode (a `DatabasePool`): the frame loop's inserts and the HTTP server's queries do not wait
/// for each other. Each event is stored whole, as the JSON that MQTT and SSE carry
/// (schemas/event.schema.json), beside the columns queries filter on. Events older than
/// `keepDays` are deleted at open and once an hour; with `maxBytes`, the oldest events are deleted
/// while the file (database and WAL) is over it: at open, hourly and every `sizeCheckEvery` events.
public final class EventHistory: @unchecked Sendable {
    public let path: String
    let keepDays: Int
    let maxBytes: Int?
    /// A size check is one stat() while under the cap: cheap, but not worth doing per frame.
    static let sizeCheckEvery = 100
    private var sinceSizeCheck = 0
    private let pool: DatabasePool
    private let encoder: JSONEncoder = {
        let e = JSONEncoder(); e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]; return e
    }()

    /// `prune`: false for readers (`emotiond report`), which must not delete anything.
    /// `maxBytes`: the cap on the database and its WAL together (nil: no cap).
    public init(path: String, keepDays: Int, maxBytes: Int? = nil, prune: Bool = true) throws {
        self.path = path; self.keepDays = keepDays; self.maxBytes = maxBytes
        var config = Configuration()
        config.prepareDatabase { db in
            // Events are not worth an fsync each: NORMAL in WAL mode loses at most the last ones on power loss.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            guard !db.configuration.readonly else { return }   // the pool's readers: the rest is the writer's
            // Freed pages can be handed back to the file system (a new file; older ones are converted below).
            try db.execute(sql: "PRAGMA auto_vacuum = INCREMENTAL")
            // With a cap, the WAL must not outgrow it between checks (by default it grows to ~4 MB).
            if let maxBytes {
                try db.execute(sql: "PRAGMA wal_autocheckpoint = \(min(1000, max(16, maxBytes / 8 / 4096)))")
                try db.execute(sql: "PRAGMA journal_size_limit = \(maxBytes / 8)")
            }
        }
        pool = try DatabasePool(path: path, configuration: config)
        try Self.migrator.migrate(pool)
        guard prune else { return }
        try convertToIncrementalVacuum()
        try self.prune(now: Date())
    }

    /// A file made before auto_vacuum was set keeps its freed pages forever; one VACUUM (only
    /// with a cap, which needs the file to shrink) makes it incremental.
    private func convertToIncrementalVacuum() throws {
        guard maxBytes != nil else { return }
        try pool.writeWithoutTransaction { db in
            if try Int.fetchOne(db, sql: "PRAGMA auto_vacuum") != 2 { try db.execute(sql: "VACUUM") }
        }
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.create(table: "event") { t in
                t.autoIncrementedPrimaryKey("seq")
                t.column("camera", .text).notNull()
                t.column("id", .text).notNull()
                t.column("type", .text).notNull()
                t.column("track", .integer).notNull()
                t.column("label", .text).notNull()
                t.column("confidence", .double).notNull()
                t.column("timestamp", .text).notNull().indexed()
                t.column("json", .text).notNull()
            }
        }
        return m
    }

    public func append(_ events: [TrackEvent], camera: String) throws {
        guard !events.isEmpty else { return }
        let rows = try events.map { e in (e, String(decoding: try encoder.encode(e), as: UTF8.self)) }
        try pool.write { db in
            for (e, json) in rows {
                try db.execute(sql: """
                    INSERT INTO event (camera, id, type, track, label, confidence, timestamp, json)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [camera, e.id, e.type.rawValue, e.track, e.label, Double(e.confidence), e.timestamp, json])
            }
        }
        sinceSizeCheck += events.count
        if sinceSizeCheck >= Self.sizeCheckEvery { sinceSizeCheck = 0; try enforceSize() }
    }

    /// Deletes events older than `keepDays` (timestamps are fixed-format UTC: they sort as text),
    /// then the oldest while over `maxBytes`.
    public func prune(now: Date) throws {
        let cutoff = Self.stamp(now.addingTimeInterval(-Double(keepDays) * 86400))
        _ = try pool.write { db in try db.execute(sql: "DELETE FROM event WHERE timestamp < ?", arguments: [cutoff]) }
        try enforceSize()
    }

    /// The database and its WAL, in bytes (what the cap counts: both are on the disk).
    public func fileBytes() -> Int {
        [path, path + "-wal"].reduce(0) { sum, p in
            sum + ((try? FileManager.default.attributesOfItem(atPath: p)[.size] as? Int) ?? 0)
        }
    }

    /// While over `maxBytes`: deletes the oldest events (enough, by their average size, to come down to
    /// 90 % of the cap, so that the next few inserts do not start it again), hands the freed pages back
    /// (incremental vacuum: no second copy of the file, unlike VACUUM) and checkpoints the WAL into the
    /// database, truncating both files. A few rounds at most: pages are not events.
    public func enforceSize() throws {
        guard let cap = maxBytes, fileBytes() > cap else { return }
        for _ in 0..<8 {
            try shrink()
            let size = fileBytes()
            guard size > cap else { return }
            let count = try pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM event") ?? 0 }
            guard count > 0 else { return }
            let n = max(1, Int((Double(count) * Double(size - cap * 9 / 10) / Double(size)).rounded(.up)))
            _ = try pool.write { db in
                try db.execute(sql: "DELETE FROM event WHERE seq IN (SELECT seq FROM event ORDER BY seq LIMIT ?)", arguments: [n])
            }
        }
        try shrink()
    }

    /// Free pages back to the file system, the WAL into the database and truncated. A reader in the
    /// middle of a query can keep the WAL from truncating now; the next check gets it.
    private func shrink() throws {
        try pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA incremental_vacuum")
            _ = try? db.checkpoint(.truncate)
        }
    }

    /// WallClock's format (no DateFormatter: ICU's data would cost the daemon ~4.7 MiB resident).
    public static func stamp(_ d: Date) -> String {
        let ms = Int((d.timeIntervalSince1970 * 1000).rounded(.down))
        return WallClock.rfc3339(seconds: time_t(ms / 1000), milliseconds: ms % 1000)
    }

    /// What GET /api/events filters on; every field optional.
    public struct Query: Sendable {
        public var camera: String?, type: String?, label: String?, since: String?, until: String?
        public var limit = 100
        /// GET /api/report's timeline: bucket size in seconds (nil: no timeline).
        public var bucket: Int?
        public init() {}
    }

    /// The matching events, newest first, as their stored JSON.
    public func events(_ q: Query) throws -> [String] {
        var clauses: [String] = [], args: [DatabaseValueConvertible] = []
        for (column, value, op) in [("camera", q.camera, "="), ("type", q.type, "="), ("label", q.label, "="),
                                    ("timestamp", q.since, ">="), ("timestamp", q.until, "<")] {
            if let value { clauses.append("\(column) \(op) ?"); args.append(value) }
        }
        let whereSQL = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        args.append(q.limit)
        return try pool.read { db in
            try String.fetchAll(db, sql: "SELECT json FROM event \(whereSQL) ORDER BY seq DESC LIMIT ?",
                                arguments: StatementArguments(args))
        }
    }
}

/// Every track event into the history; prunes once an hour (from `tick`, so also while the source stalls).
public final class EventHistorySink: FrameSink {
    let history: EventHistory
    let camera: String
    private var lastPrune = Date()

    public init(history: EventHistory, camera: String) { self.history = history; self.camera = camera }

    public func write(_ out: FrameOutput) throws { try history.append(out.events, camera: camera) }
    public func end(_ source: SourceInfo, events: [TrackEvent]) throws { try history.append(events, camera: camera) }
    public func tick(now: Date) throws {
        guard now.timeIntervalSince(lastPrune) >= 3600 else { return }
        lastPrune = now
        try history.prune(now: now)
    }
}
