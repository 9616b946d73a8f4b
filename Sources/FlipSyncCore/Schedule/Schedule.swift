/// Something that says when a job fires.
///
/// `next(after:in:)` returns the first fire time strictly after `instant`, or `nil` when the
/// expression never fires again. `zone` is the zone to read the expression in when it does not
/// name one itself (a job's `timezone`). Implementations are pure: the same arguments always give
/// the same answer, so a scheduler can call them as often as it likes.
public protocol Schedule: Sendable, CustomStringConvertible {
    func next(after instant: Timestamp, in zone: ZoneRules) -> Timestamp?
}

/// A schedule expression as written in a job file: systemd `OnCalendar` syntax or a cron line.
///
/// The syntax is told apart by shape: five whitespace-separated fields or an `@macro` is cron,
/// anything else is OnCalendar (which never has more than four space-separated parts). A
/// `cron:` or `calendar:` prefix forces one reading.
public enum ScheduleExpression: Schedule, Hashable {
    case calendar(CalendarEvent)
    case cron(CronExpression)

    public init(parsing text: String) throws(ScheduleError) {
        let trimmed = text.trimmingASCIISpaces()
        if trimmed.hasPrefix("cron:") {
            self = .cron(try CronExpression(parsing: String(trimmed.dropFirst(5)).trimmingASCIISpaces()))
        } else if trimmed.hasPrefix("calendar:") {
            self = .calendar(try CalendarEvent(parsing: String(trimmed.dropFirst(9)).trimmingASCIISpaces()))
        } else if CronExpression.looksLikeCron(trimmed) || CronExpression.looksLikeMiscountedCron(trimmed) {
            self = .cron(try CronExpression(parsing: trimmed))
        } else {
            self = .calendar(try CalendarEvent(parsing: trimmed))
        }
    }

    public func next(after instant: Timestamp, in zone: ZoneRules) -> Timestamp? {
        switch self {
        case .calendar(let event): return event.next(after: instant, in: zone)
        case .cron(let cron): return cron.next(after: instant, in: zone)
        }
    }

    public var description: String {
        switch self {
        case .calendar(let event): return event.description
        case .cron(let cron): return cron.description
        }
    }

    /// "OnCalendar" or "cron".
    public var syntaxName: String {
        switch self {
        case .calendar: return "OnCalendar"
        case .cron: return "cron"
        }
    }
}

/// Several expressions; fires at the earliest of them (as several `OnCalendar=` lines do).
public struct ScheduleSet: Schedule, Hashable {
    public var expressions: [ScheduleExpression]

    public init(_ expressions: [ScheduleExpression]) {
        self.expressions = expressions
    }

    public func next(after instant: Timestamp, in zone: ZoneRules) -> Timestamp? {
        var best: Timestamp?
        for expression in expressions {
            if let candidate = expression.next(after: instant, in: zone), best.map({ candidate < $0 }) ?? true {
                best = candidate
            }
        }
        return best
    }

    /// The next `count` fire times strictly after `instant`.
    public func upcoming(after instant: Timestamp, in zone: ZoneRules, count: Int) -> [Timestamp] {
        var result: [Timestamp] = []
        var cursor = instant
        while result.count < count, let next = next(after: cursor, in: zone) {
            result.append(next)
            cursor = next
        }
        return result
    }

    public var description: String { expressions.map(\.description).joined(separator: "; ") }
}

/// A schedule expression that cannot be read, or that can never fire.
public struct ScheduleError: Error, Hashable, Sendable, CustomStringConvertible {
    public var expression: String
    public var message: String

    public init(expression: String, message: String) {
        self.expression = expression
        self.message = message
    }

    public var description: String { "invalid schedule \"\(expression)\": \(message)" }
}

extension String {
    func trimmingASCIISpaces() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" { scalars = scalars.dropFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars = scalars.dropLast() }
        return String(scalars)
    }
}

extension CalendarEvent: Schedule {}
extension CronExpression: Schedule {}
