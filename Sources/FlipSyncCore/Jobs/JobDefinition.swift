import FlipSyncTOML

/// What happens when a job is due while its previous run is still going.
public enum OverlapPolicy: String, CaseIterable, Sendable, Hashable, Codable {
    /// Record the fire as skipped.
    case skip
    /// Run once more after the current run (at most one waits).
    case queue
    /// Cancel the running run and start a new one.
    case replace
}

/// What happens to fire times missed while the daemon was down.
public enum CatchUpPolicy: String, CaseIterable, Sendable, Hashable, Codable {
    /// Record them as missed; run none.
    case skip
    /// Run once for the latest missed fire (within `catch_up_window`).
    case latest
    /// Run every missed fire within `catch_up_window`, oldest first.
    case all
}

/// Retries of a failed task: `attempts` in all, with exponential backoff and full jitter.
public struct RetrySettings: Sendable, Hashable {
    public var attempts: Int
    public var backoff: TimeSpan
    public var maxBackoff: TimeSpan

    public static let `default` = RetrySettings(attempts: 3, backoff: .seconds(1), maxBackoff: .seconds(60))
}

/// One validated job file.
public struct JobDefinition: Sendable, Hashable {
    public var name: String
    public var description: String
    /// The expressions as written, in order.
    public var scheduleText: [String]
    public var schedule: ScheduleSet
    public var timezone: ZoneRules
    public var enabled: Bool
    public var timeout: TimeSpan
    public var overlap: OverlapPolicy
    public var catchUp: CatchUpPolicy
    public var catchUpWindow: TimeSpan
    public var jitter: TimeSpan
    public var concurrency: Int
    public var budget: Money?
    /// Spend cap for all of this job's runs in one day of the daemon's time zone (`daily_budget`).
    public var dailyBudget: Money?
    public var retry: RetrySettings
    public var resumeInterrupted: Bool
    /// What the job does: its kind, with that kind's validated `[params]`.
    public var parameters: JobParameters
    /// Where the job was defined: file path and the line of its `name`.
    public var file: String
    public var line: Int

    /// The job's kind, as its parameters say (the kind is stored once: in `parameters`).
    public var kind: JobKind { parameters.kind }

    public static func == (a: JobDefinition, b: JobDefinition) -> Bool {
        a.name == b.name && a.description == b.description && a.scheduleText == b.scheduleText
            && a.timezone.identifier == b.timezone.identifier && a.enabled == b.enabled && a.timeout == b.timeout
            && a.overlap == b.overlap && a.catchUp == b.catchUp && a.catchUpWindow == b.catchUpWindow
            && a.jitter == b.jitter && a.concurrency == b.concurrency && a.budget == b.budget
            && a.dailyBudget == b.dailyBudget && a.retry == b.retry
            && a.resumeInterrupted == b.resumeInterrupted && a.parameters == b.parameters && a.file == b.file
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(scheduleText)
    }

    /// The fixed offset added to every fire time: a stable hash of the name modulo `jitter`, like
    /// systemd's `FixedRandomDelay=` — the same on every start, different between jobs.
    public var fixedDelay: TimeSpan {
        guard jitter.milliseconds > 0 else { return .zero }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        // Whole seconds: schedules have one-second resolution.
        let seconds = UInt64(max(jitter.seconds, 1))
        return .seconds(Int64(hash % seconds))
    }

    /// The first fire time strictly after `instant`, fixed delay included.
    public func nextFire(after instant: Timestamp) -> Timestamp? {
        let delay = fixedDelay.seconds
        return schedule.next(after: instant.adding(seconds: -delay), in: timezone)?.adding(seconds: delay)
    }

    static let namePattern = "[a-z0-9-], 1 to 64 characters, starting with a letter or digit"

    static func isValidName(_ name: String) -> Bool {
        guard (1...64).contains(name.utf8.count), name.utf8.first != UInt8(ascii: "-") else { return false }
        return name.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == UInt8(ascii: "-") }
    }
}

/// Reading one job file.
enum JobFileReader {
    /// Validates a parsed job file; every problem goes to `log`; `nil` if there was any.
    static func read(file: String, table: TOMLTable, defaults: JobDefaults, now: Timestamp, log: DiagnosticLog) -> JobDefinition? {
        var r = TableReader(file: file, table: table, scope: "", log: log)
        let name = r.string("name", required: true)
        if let name, !JobDefinition.isValidName(name.value) {
            r.error(name.line, "job name \"\(name.value)\" is not valid: use \(JobDefinition.namePattern)")
        }
        let kind: Located<JobKind>? = r.choice("kind", required: true)
        let description = r.string("description")
        let scheduleList = r.strings("schedule", required: true)
        var expressions: [ScheduleExpression] = []
        for item in scheduleList?.value ?? [] {
            do {
                expressions.append(try ScheduleExpression(parsing: item.value))
            } catch {
                r.error(item.line, "schedule \"\(item.value)\": \(error.message)")
            }
        }
        var zone = defaults.timezone
        if let tz = r.string("timezone") {
            do {
                zone = try ZoneRules.named(tz.value)
            } catch {
                var message = "\"timezone\": unknown time zone \"\(tz.value)\" (use an IANA name such as \"America/New_York\")"
                if let guess = Suggestion.closest(to: tz.value, in: CommonZones.names) { message += "; did you mean \"\(guess)\"?" }
                r.error(tz.line, message)
            }
        }
        let enabled = r.bool("enabled")
        let timeout = r.duration("timeout", in: .seconds(1)...TimeSpan.seconds(7 * 86_400))
        let overlap: Located<OverlapPolicy>? = r.choice("overlap")
        let catchUp: Located<CatchUpPolicy>? = r.choice("catch_up")
        let catchUpWindow = r.duration("catch_up_window", in: .zero...TimeSpan.seconds(90 * 86_400))
        let jitter = r.duration("jitter", in: .zero...TimeSpan.seconds(86_400))
        let concurrency = r.integer("concurrency", in: 1...1024)
        let budget = r.money("budget")
        if let budget, budget.value.currency != defaults.currency {
            r.error(budget.line, "\"budget\" is in \(budget.value.currency) but the config's currency is \(defaults.currency)")
        }
        if let budget, budget.value.micros == 0 {
            r.error(budget.line, "\"budget\" of 0 allows no paid call at all; leave it out for no per-run cap")
        }
        let dailyBudget = r.money("daily_budget")
        if let dailyBudget, dailyBudget.value.currency != defaults.currency {
            r.error(dailyBudget.line, "\"daily_budget\" is in \(dailyBudget.value.currency) but the config's currency is \(defaults.currency)")
        }
        if let dailyBudget, dailyBudget.value.micros == 0 {
            r.error(dailyBudget.line, "\"daily_budget\" of 0 allows no paid call at all; leave it out for no daily cap")
        }
        let resume = r.bool("resume_interrupted")

        var retry = RetrySettings.default
        if var t = r.table("retry") {
            if let attempts = t.integer("attempts", in: 1...20) { retry.attempts = attempts.value }
            let backoff = t.duration("backoff", in: TimeSpan(milliseconds: 1)...TimeSpan.seconds(3600))
            let maxBackoff = t.duration("max_backoff", in: TimeSpan(milliseconds: 1)...TimeSpan.seconds(86_400))
            if let backoff { retry.backoff = backoff.value }
            if let maxBackoff { retry.maxBackoff = maxBackoff.value }
            if retry.maxBackoff < retry.backoff {
                t.error(maxBackoff?.line ?? backoff?.line ?? t.line,
                        "\"retry.max_backoff\" (\(retry.maxBackoff)) is shorter than \"retry.backoff\" (\(retry.backoff))")
            }
            t.finish()
        }

        var parameters: JobParameters?
        if let kind {
            if var p = r.table("params") {
                parameters = JobParameters.read(kind: kind.value, from: &p)
            } else {
                var empty = TableReader(file: file, table: TOMLTable(entries: [], position: table.position),
                                        scope: "params", log: log)
                parameters = JobParameters.read(kind: kind.value, from: &empty)
            }
        } else {
            _ = r.node("params")
        }
        r.finish()

        // Cross-checks against the config.
        for marketplace in parameters?.marketplaces ?? [] where !defaults.configuredMarketplaces.contains(marketplace.value) {
            r.error(marketplace.line, "marketplace \"\(marketplace.value.rawValue)\" is not configured in \(defaults.configFile) (add [marketplaces.\(marketplace.value.rawValue)])")
        }
        for amount in parameters?.amounts ?? [] where amount.value.currency != defaults.currency {
            r.error(amount.line, "amount \(amount.value) is in \(amount.value.currency) but the config's currency is \(defaults.currency)")
        }

        guard let name, kind != nil, let scheduleList, let parameters, !log.hasErrors else { return nil }
        let job = JobDefinition(
            name: name.value, description: description?.value ?? "",
            scheduleText: scheduleList.value.map(\.value), schedule: ScheduleSet(expressions), timezone: zone,
            enabled: enabled?.value ?? true, timeout: timeout?.value ?? .seconds(3600),
            overlap: overlap?.value ?? .skip, catchUp: catchUp?.value ?? .latest,
            catchUpWindow: catchUpWindow?.value ?? .seconds(86_400), jitter: jitter?.value ?? .zero,
            concurrency: concurrency?.value ?? 8, budget: budget?.value, dailyBudget: dailyBudget?.value, retry: retry,
            resumeInterrupted: resume?.value ?? false, parameters: parameters, file: file, line: name.line)
        // An expression that parses can still never fire (`0 2 30 2 *` is caught by the parser;
        // `*-02-30` or a year in the past are caught here).
        for (expression, item) in zip(expressions, scheduleList.value)
        where expression.next(after: now, in: zone) == nil {
            log.error(file, item.line, "schedule \"\(item.value)\" never fires after \(now)")
        }
        return log.hasErrors ? nil : job
    }
}

/// What job files inherit from the config.
public struct JobDefaults: Sendable {
    public var timezone: ZoneRules
    public var currency: Currency
    public var configuredMarketplaces: Set<MarketplaceName>
    /// For messages.
    public var configFile: String
}

/// Zone names offered as "did you mean" suggestions.
enum CommonZones {
    static let names = [
        "UTC", "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles", "America/Phoenix",
        "America/Anchorage", "America/Toronto", "America/Vancouver", "America/Mexico_City", "America/Sao_Paulo",
        "Europe/London", "Europe/Dublin", "Europe/Berlin", "Europe/Paris", "Europe/Madrid", "Europe/Rome",
        "Europe/Amsterdam", "Europe/Stockholm", "Europe/Warsaw", "Asia/Tokyo", "Asia/Shanghai", "Asia/Kolkata",
        "Asia/Singapore", "Asia/Hong_Kong", "Australia/Sydney", "Australia/Melbourne", "Australia/Lord_Howe",
        "Pacific/Auckland", "Pacific/Chatham",
    ]
}
