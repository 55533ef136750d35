import EmotionCore
import Foundation
import GRDB
import Sinks

/// Track events kept in SQLite (`history.path`) for GET /api/events.
///
/// WAL mode (a `DatabasePool`): the frame loop's inserts and the HTTP server's queries do not wait
/// for each other. Each event is stored whole, as the JSON that MQTT and SSE carry
/// (schemas/event.schema.json), beside the columns queries filter on. Events older than
/// `keepDays` are deleted at open and once an hour.
public final class EventHistory: @unchecked Sendable {
    public let path: String
    let keepDays: Int
    private let pool: DatabasePool
    private let encoder: JSONEncoder = {
        let e = JSONEncoder(); e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]; return e
    }()

    /// `prune`: false for readers (`emotiond report`), which must not delete anything.
    public init(path: String, keepDays: Int, prune: Bool = true) throws {
        self.path = path; self.keepDays = keepDays
        var config = Configuration()
        // Events are not worth an fsync each: NORMAL in WAL mode loses at most the last ones on power loss.
        config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        pool = try DatabasePool(path: path, configuration: config)
        try Self.migrator.migrate(pool)
        if prune { try self.prune(now: Date()) }
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
    }

    /// Deletes events older than `keepDays` (timestamps are fixed-format UTC: they sort as text).
    public func prune(now: Date) throws {
        let cutoff = Self.stamp(now.addingTimeInterval(-Double(keepDays) * 86400))
        _ = try pool.write { db in try db.execute(sql: "DELETE FROM event WHERE timestamp < ?", arguments: [cutoff]) }
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
