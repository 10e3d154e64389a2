package routing

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidDigits is returned by Simulate for key presses other than 0-9 * # and ','.
var ErrInvalidDigits = errors.New("invalid digits: want 0-9 * # and ','")

// maxSimulateDigits bounds the key presses a simulation takes.
const maxSimulateDigits = 1000

// Simulation is where a call would go: the answer of POST /api/v1/inbound/simulate.
type Simulation struct {
	Path []Hop `json:"path"`
	// Destination is where the call ends up: the node that would connect it (extension,
	// ring_group, queue, external with its present) or {type: "hangup", target: "<code>"}.
	Destination Destination `json:"destination"`
	Prompts     []string    `json:"prompts"` // every prompt played, in order
}

// Simulate walks a call to number from caller at instant at without placing it, exactly
// as the engine's Walk would. digits are the caller's key presses in order (spaces are
// ignored): each menu takes digits until its input is Complete, or until the digits run
// out (then what it has is its input; "" is no input, so a menu left without digits
// retries and finally takes its max_retries way); a ',' ends the current menu's input
// explicitly, as the inter-digit timeout would (",," is no input to a menu). It stops at
// the first node that would connect the call or at a hangup; announcements are played
// (recorded in Prompts) and walked through. It always ends: the walk is cut after MaxHops
// destinations, and a menu retries at most 10 times per visit.
//
// Errors: ErrNoNumber (wrapped) when number has no scheme, ErrInvalidDigits for other
// characters or more than 1000 of them.
func (g *Graph) Simulate(number, caller string, at time.Time, digits string) (Simulation, error) {
	keys := strings.ReplaceAll(digits, " ", "")
	if strings.Trim(keys, "0123456789*#,") != "" || len(keys) > maxSimulateDigits {
		return Simulation{}, fmt.Errorf("simulate %q: %w", digits, ErrInvalidDigits)
	}
	w, err := g.Start(number, caller)
	if err != nil {
		return Simulation{}, err
	}
	sim := Simulation{Prompts: []string{}}
	for sim.Destination.Type == "" {
		n := w.Next(at)
		sim.Prompts = append(sim.Prompts, n.Prompts...)
		switch n.Kind {
		case NodeIVR:
			in := ""
			for keys != "" {
				c := keys[0]
				keys = keys[1:]
				if c == ',' {
					break
				}
				in += string(c)
				if n.Complete(in) {
					break
				}
			}
			w.Input(in)
		case NodeAnnouncement:
			w.Done()
		case NodeHangup:
			sim.Destination = Destination{Type: DestHangup, Target: strconv.Itoa(n.Code)}
		case NodeExtension:
			sim.Destination = Destination{Type: DestExtension, Target: n.Extension}
		case NodeRingGroup:
			sim.Destination = Destination{Type: DestRingGroup, Target: strconv.FormatInt(n.RingGroup.ID, 10)}
		case NodeQueue:
			sim.Destination = Destination{Type: DestQueue, Target: strconv.FormatInt(n.Queue, 10)}
		case NodeExternal:
			sim.Destination = Destination{Type: DestExternal, Target: n.Number, Present: n.Present}
		default: // cannot happen
			sim.Destination = Destination{Type: DestHangup, Target: strconv.Itoa(DefaultHangupCode)}
		}
	}
	sim.Path = w.Path()
	return sim, nil
}

// RingOrder gives the order in which ring group rg rings its members for one call: linear
// and ring_all as listed (ring_all rings them all at once); round_robin as listed starting
// after index last, the member who rang last (-1, or an index past the end: from the
// start); random a permutation drawn with rnd (rnd(n) returns 0..n-1; nil: as listed). The
// result is a new slice.
func RingOrder(rg *RingGroup, last int, rnd func(int) int) []Member {
	if rg == nil || len(rg.Members) == 0 {
		return []Member{}
	}
	n := len(rg.Members)
	out := make([]Member, 0, n)
	switch rg.Strategy {
	case RingRoundRobin:
		start := 0
		if last >= 0 && last < n {
			start = (last + 1) % n
		}
		out = append(out, rg.Members[start:]...)
		out = append(out, rg.Members[:start]...)
	case RingRandom:
		out = append(out, rg.Members...)
		if rnd == nil {
			break
		}
		for i := n - 1; i > 0; i-- { // Fisher-Yates
			j := rnd(i + 1)
			if j < 0 || j > i { // a bad source must not break a call
				j = ((j % (i + 1)) + i + 1) % (i + 1)
			}
			out[i], out[j] = out[j], out[i]
		}
	default:
		out = append(out, rg.Members...)
	}
	return out
}
