package pbx

import (
	"bytes"
	"strconv"
	"strings"
)

// rawReply answers a request sipgo could not parse: 416 when only its Request-URI scheme is
// unknown, else 400. It copies Via, From, To, Call-ID and CSeq lines as they came so the client
// can match the answer. Responses, ACKs and messages without a Via get nothing (nil).
func rawReply(data []byte, server string) []byte {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	parts := strings.Fields(string(line))
	if len(parts) == 3 && parts[2] == "SIP/2.0" {
		scheme, _, ok := strings.Cut(parts[1], ":")
		if s := strings.ToLower(scheme); ok && s != "sip" && s != "sips" && s != "tel" && !strings.ContainsAny(scheme, "<>\"") {
			return rawReplyStatus(data, 416, "Unsupported URI Scheme", server)
		}
	}
	return rawReplyStatus(data, 400, "Bad Request", server)
}

func rawReplyStatus(data []byte, code int, reason, server string) []byte {
	if bytes.HasPrefix(data, []byte("SIP/")) || bytes.HasPrefix(data, []byte("ACK ")) {
		return nil
	}
	head, _, _ := bytes.Cut(data, []byte("\r\n\r\n"))
	var keep []string
	hasVia := false
	for i, l := range strings.Split(string(head), "\n") {
		l = strings.TrimRight(l, "\r")
		if i == 0 || l == "" || l[0] == ' ' || l[0] == '\t' {
			continue
		}
		name, _, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "via", "v":
			hasVia = true
			keep = append(keep, l)
		case "from", "f", "to", "t", "call-id", "i", "cseq":
			keep = append(keep, l)
		}
	}
	if !hasVia {
		return nil
	}
	var b bytes.Buffer
	b.WriteString("SIP/2.0 " + strconv.Itoa(code) + " " + reason + "\r\n")
	for _, l := range keep {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("Server: " + server + "\r\nContent-Length: 0\r\n\r\n")
	return b.Bytes()
}
