package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/centrala/centrala/cdr"
	"github.com/centrala/centrala/queue"
)

// Queue statistics: the queue stays of call records (cdr.Record.Queues, tables
// cdr_queue_stays and cdr_queue_offers) read back as queue.CallRecord and queue.OfferRecord,
// and the agent state log (agent_state_log) read back as queue.StateSpan, the inputs of
// queue.QueueReport and queue.AgentReport.

const stayCols = `s.id, s.cdr_id, s.queue_id, s.priority, s.joined_at, s.left_at, s.wait_ms, s.exit,
	s.answered_by, s.talk_ms, s.wrap_up_ms`

// insertStays writes the queue stays of record cdrID (call callID) and their offers.
func insertStays(ctx context.Context, q querier, cdrID int64, callID string, stays []cdr.QueueStay) error {
	what := fmt.Sprintf("queue stays of cdr %d", cdrID)
	for _, s := range stays {
		var stayID int64
		err := q.QueryRowContext(ctx, `INSERT INTO cdr_queue_stays (cdr_id, queue_id, priority, joined_at,
			left_at, wait_ms, exit, answered_by, talk_ms, wrap_up_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			RETURNING id`, cdrID, s.QueueID, s.Priority, millis(s.JoinedAt), millis(s.LeftAt), s.WaitMS,
			s.Exit, nullInt(s.AnsweredBy), s.TalkMS, s.WrapUpMS).Scan(&stayID)
		if err != nil {
			return dbErr(err, what)
		}
		for _, o := range s.Offers {
			if _, err := q.ExecContext(ctx, `INSERT INTO cdr_queue_offers (stay_id, queue_id, user_id, call_id,
				offered_at, ring_ms, outcome) VALUES (?, ?, ?, ?, ?, ?, ?)`, stayID, s.QueueID, o.UserID, callID,
				millis(o.OfferedAt), o.RingMS, o.Outcome); err != nil {
				return dbErr(err, what)
			}
		}
	}
	return nil
}

// loadQueues fills in the queue stays of the records, offers included, with one query per
// chunk of maxParams records (a stay without offers comes from the outer join alone).
func (db *DB) loadQueues(ctx context.Context, recs []cdr.Record) error {
	index, ids := indexRecords(recs)
	for chunk := range chunks(ids) {
		rows, err := db.r.QueryContext(ctx, `SELECT `+stayCols+`, o.user_id, o.offered_at, o.ring_ms, o.outcome
			FROM cdr_queue_stays s LEFT JOIN cdr_queue_offers o ON o.stay_id = s.id
			WHERE s.cdr_id IN (`+placeholders(len(chunk))+`) ORDER BY s.cdr_id, s.id, o.id`, anys(chunk)...)
		if err != nil {
			return err
		}
		if err := addStays(rows, recs, index); err != nil {
			return err
		}
	}
	return nil
}

func addStays(rows *sql.Rows, recs []cdr.Record, index map[int64]int) error {
	defer rows.Close()
	lastStay := int64(0)
	for rows.Next() {
		var (
			st          cdr.QueueStay
			stayID, id  int64
			joined, lft int64
			answeredBy  sql.NullInt64
			userID      sql.NullInt64
			offeredAt   sql.NullInt64
			ringMS      sql.NullInt64
			outcome     sql.NullString
		)
		if err := rows.Scan(&stayID, &id, &st.QueueID, &st.Priority, &joined, &lft, &st.WaitMS, &st.Exit,
			&answeredBy, &st.TalkMS, &st.WrapUpMS, &userID, &offeredAt, &ringMS, &outcome); err != nil {
			return err
		}
		r := &recs[index[id]]
		if stayID != lastStay {
			lastStay = stayID
			st.JoinedAt, st.LeftAt = fromMillis(joined), fromMillis(lft)
			st.AnsweredBy = fromNullInt(answeredBy)
			st.Offers = []cdr.QueueOffer{}
			r.Queues = append(r.Queues, st)
		}
		if userID.Valid {
			s := &r.Queues[len(r.Queues)-1]
			s.Offers = append(s.Offers, cdr.QueueOffer{UserID: userID.Int64, OfferedAt: fromMillis(offeredAt.Int64),
				RingMS: ringMS.Int64, Outcome: outcome.String})
		}
	}
	return rows.Err()
}

// QueueCalls returns the stays in queue queueID of the callers who joined it in [from, to),
// in the order they joined, with the record's Call-ID: the input of queue.QueueReport.
func (db *DB) QueueCalls(ctx context.Context, queueID int64, from, to time.Time) ([]queue.CallRecord, error) {
	return db.callRecords(ctx, fmt.Sprintf("calls of queue %d", queueID), `s.queue_id = ? AND s.joined_at >= ?
		AND s.joined_at < ? ORDER BY s.joined_at, s.id`, queueID, millis(from), millis(to))
}

// AgentCalls returns the queue calls user userID answered whose stay ended (the answer) in
// [from, to), in that order: the calls of queue.AgentReport.
func (db *DB) AgentCalls(ctx context.Context, userID int64, from, to time.Time) ([]queue.CallRecord, error) {
	return db.callRecords(ctx, fmt.Sprintf("queue calls of user %d", userID), `s.answered_by = ? AND s.left_at >= ?
		AND s.left_at < ? ORDER BY s.left_at, s.id`, userID, millis(from), millis(to))
}

// callRecords reads the stays that cond (with ORDER BY) selects as queue.CallRecord.
func (db *DB) callRecords(ctx context.Context, what, cond string, args ...any) ([]queue.CallRecord, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+stayCols+`, c.call_id FROM cdr_queue_stays s
		JOIN cdrs c ON c.id = s.cdr_id WHERE `+cond, args...)
	if err != nil {
		return nil, dbErr(err, what)
	}
	recs, err := collect(rows, scanCallRecord)
	return recs, dbErr(err, what)
}

func scanCallRecord(row rowScanner) (queue.CallRecord, error) {
	var (
		r                  queue.CallRecord
		stayID, cdrID      int64
		joined, left, wait int64
		exit               string
		answeredBy         sql.NullInt64
	)
	if err := row.Scan(&stayID, &cdrID, &r.QueueID, &r.Priority, &joined, &left, &wait, &exit,
		&answeredBy, &r.Talk, &r.WrapUp, &r.CallID); err != nil {
		return queue.CallRecord{}, err
	}
	r.JoinedAt, r.LeftAt, r.Exit, r.AgentID = fromMillis(joined), fromMillis(left), queue.Exit(exit), answeredBy.Int64
	return r, nil
}

// AgentOffers returns the offers made to user userID in [from, to), in the order made: the
// offers of queue.AgentReport.
func (db *DB) AgentOffers(ctx context.Context, userID int64, from, to time.Time) ([]queue.OfferRecord, error) {
	what := fmt.Sprintf("offers to user %d", userID)
	rows, err := db.r.QueryContext(ctx, `SELECT call_id, queue_id, user_id, offered_at, ring_ms, outcome
		FROM cdr_queue_offers WHERE user_id = ? AND offered_at >= ? AND offered_at < ?
		ORDER BY offered_at, id`, userID, millis(from), millis(to))
	if err != nil {
		return nil, dbErr(err, what)
	}
	offers, err := collect(rows, func(row rowScanner) (queue.OfferRecord, error) {
		var (
			o       queue.OfferRecord
			at      int64
			outcome string
		)
		err := row.Scan(&o.CallID, &o.QueueID, &o.UserID, &at, &o.Ring, &outcome)
		o.OfferedAt, o.Outcome = fromMillis(at), queue.Outcome(outcome)
		return o, err
	})
	return offers, dbErr(err, what)
}

// AgentStateEntry is one row of the agent state log: the user entered State (with Reason,
// by By) at Since. The state lasts until the user's next entry.
type AgentStateEntry struct {
	UserID int64
	State  queue.State
	Reason string
	Since  time.Time
	By     queue.By
}

// EntryOf is the entry of the state agent a is in.
func EntryOf(a queue.Agent) AgentStateEntry {
	return AgentStateEntry{UserID: a.UserID, State: a.State, Reason: a.Reason, Since: a.Since, By: a.By}
}

// LogAgentStates adds the entries to the agent state log in one transaction; an entry
// already there (the same user, since and state) is left as it is, and entries with a zero
// Since (a user never logged in) are skipped.
func (db *DB) LogAgentStates(ctx context.Context, entries ...AgentStateEntry) error {
	at := millis(now())
	return db.batch(ctx, func(q querier) error {
		for _, e := range entries {
			if e.Since.IsZero() {
				continue
			}
			if _, err := q.ExecContext(ctx, `INSERT INTO agent_state_log (user_id, state, reason, since, by_whom,
				logged_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, e.UserID, string(e.State), e.Reason,
				millis(e.Since), string(e.By), at); err != nil {
				return dbErr(err, fmt.Sprintf("log agent state of user %d", e.UserID))
			}
		}
		return nil
	})
}

// AgentStates returns the log entries of user userID that tell its states in [from, to):
// the last entry before from (the state the user was in at from) and every entry from then
// to before to, by since.
func (db *DB) AgentStates(ctx context.Context, userID int64, from, to time.Time) ([]AgentStateEntry, error) {
	what := fmt.Sprintf("agent state log of user %d", userID)
	rows, err := db.r.QueryContext(ctx, `SELECT user_id, state, reason, since, by_whom FROM agent_state_log
		WHERE user_id = ? AND since < ? AND since >= COALESCE((SELECT MAX(since) FROM agent_state_log
			WHERE user_id = ? AND since <= ?), ?)
		ORDER BY since, id`, userID, millis(to), userID, millis(from), millis(from))
	if err != nil {
		return nil, dbErr(err, what)
	}
	entries, err := collect(rows, func(row rowScanner) (AgentStateEntry, error) {
		var (
			e         AgentStateEntry
			state, by string
			since     int64
		)
		err := row.Scan(&e.UserID, &state, &e.Reason, &since, &by)
		e.State, e.Since, e.By = queue.State(state), fromMillis(since), queue.By(by)
		return e, err
	})
	return entries, dbErr(err, what)
}

// AgentSpans returns the state spans of user userID in [from, to) as of now (see Spans).
func (db *DB) AgentSpans(ctx context.Context, userID int64, from, to, now time.Time) ([]queue.StateSpan, error) {
	entries, err := db.AgentStates(ctx, userID, from, to)
	if err != nil {
		return nil, err
	}
	return Spans(entries, from, to, now), nil
}

// Spans turns a user's log entries (ordered by since) into the spans of their states, cut
// to [from, to): entry i lasts from its since to the next entry's since, the last one until
// min(now, to). logged_out entries give no span (time logged out is not counted), nor do
// entries of no length. The result is never nil.
func Spans(entries []AgentStateEntry, from, to, now time.Time) []queue.StateSpan {
	end := to
	if now.Before(end) {
		end = now
	}
	out := []queue.StateSpan{}
	for i, e := range entries {
		until := end
		if i+1 < len(entries) && entries[i+1].Since.Before(end) {
			until = entries[i+1].Since
		}
		start := e.Since
		if start.Before(from) {
			start = from
		}
		if e.State == queue.LoggedOut || !until.After(start) {
			continue
		}
		out = append(out, queue.StateSpan{UserID: e.UserID, State: e.State, Reason: e.Reason, From: start, To: until})
	}
	return out
}
