package cdr

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"
)

// CSVHeader is the header row of the CSV export: the fields of Record without the legs
// (the queue stays are one cell of JSON, as the path is).
var CSVHeader = []string{"id", "started_at", "answered_at", "ended_at", "duration_s", "billsec_s",
	"direction", "caller", "callee", "did", "clip", "trunk_id", "user_id", "disposition",
	"sip_code", "sip_reason", "hangup_by", "call_id", "path", "queues"}

// WriteCSV writes the records as CSV (RFC 4180: comma separated, CRLF line ends, quoted
// where needed) under a header row, one row per record; legs are left out, the path and the
// queue stays are compact JSON (empty for none). Times are RFC 3339 in UTC to the second; a
// null (an unanswered call's answered_at, a withheld clip, a live call's disposition) is an
// empty cell.
//
// Text that reaches the file from the network (numbers, SIP reasons, Call-IDs) could start
// a spreadsheet formula: a cell beginning with =, @, a tab or a carriage return, or with + or
// - not followed by digits only, gets a leading apostrophe (OWASP's advice). Phone numbers
// like +48221234567 are written as they are.
func WriteCSV(w io.Writer, recs []Record) error {
	cw := NewCSVWriter(w)
	if err := cw.Write(recs...); err != nil {
		return err
	}
	return cw.Flush()
}

// CSVWriter writes records as CSV in several batches under one header row (see WriteCSV),
// for exports too large to hold in memory.
type CSVWriter struct {
	w      *csv.Writer
	header bool
	row    []string
}

// NewCSVWriter returns a CSVWriter on w; call Flush at the end.
func NewCSVWriter(w io.Writer) *CSVWriter {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	return &CSVWriter{w: cw, row: make([]string, len(CSVHeader))}
}

// Write writes the header row if it has not been written yet, then a row per record.
func (c *CSVWriter) Write(recs ...Record) error {
	if err := c.writeHeader(); err != nil {
		return err
	}
	for _, r := range recs {
		c.row = append(c.row[:0], strconv.FormatInt(r.ID, 10), csvTime(&r.StartedAt),
			csvTime(r.AnsweredAt), csvTime(r.EndedAt), strconv.FormatInt(r.DurationS, 10),
			strconv.FormatInt(r.BillsecS, 10), string(r.Direction), cell(r.Caller), cell(r.Callee),
			cell(r.DID), csvString(r.CLIP), csvInt(r.TrunkID), csvInt(r.UserID),
			string(r.Disposition), strconv.Itoa(r.SIPCode), cell(r.SIPReason), string(r.HangupBy),
			cell(r.CallID), csvPath(r.Path), csvQueues(r.Queues))
		if err := c.w.Write(c.row); err != nil {
			return err
		}
	}
	return nil
}

// Flush writes the header row if nothing was written, then flushes and reports any write error.
func (c *CSVWriter) Flush() error {
	if err := c.writeHeader(); err != nil {
		return err
	}
	c.w.Flush()
	return c.w.Error()
}

func (c *CSVWriter) writeHeader() error {
	if c.header {
		return nil
	}
	c.header = true
	return c.w.Write(CSVHeader)
}

func csvTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func csvInt(v *int64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatInt(*v, 10)
}

func csvString(s *string) string {
	if s == nil {
		return ""
	}
	return cell(*s)
}

// cell neutralises text a spreadsheet would run as a formula (see WriteCSV).
func cell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '@', '\t', '\r':
		return "'" + s
	case '+', '-':
		if len(s) == 1 || strings.Trim(s[1:], "0123456789") != "" {
			return "'" + s
		}
	}
	return s
}

// csvQueues is the queue stays as compact JSON, as the API answers them; empty for none.
func csvQueues(qs []QueueStay) string {
	if len(qs) == 0 {
		return ""
	}
	b, err := json.Marshal(qs)
	if err != nil { // not reached: plain values
		return ""
	}
	return string(b) // JSON starts with '[': never a formula
}

// csvPath is the inbound path as compact JSON; empty for none.
func csvPath(p []byte) string {
	if len(p) == 0 || string(p) == "[]" || string(p) == "null" {
		return ""
	}
	return string(p) // JSON starts with '[': never a formula
}
