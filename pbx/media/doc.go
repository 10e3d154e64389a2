// Package media anchors the RTP of Centrala's calls: it negotiates the audio of each leg in
// SDP (RFC 3264 offer/answer over RFC 4566) and relays the packets between the two legs
// through the server, so that RTP really flows both ways through Centrala, phones behind NAT
// are heard (symmetric RTP), dead calls are noticed (RTP timeout) and PCMU and PCMA phones
// can talk to each other.
//
// Where it sits: the call engine (pbx) owns a call in one goroutine and, for each call:
//
//  1. parses the caller's offer (Parse) and chooses the codec (Negotiate); on
//     ErrNoCommonCodec it answers 488, on ErrInvalidSDP 400;
//  2. allocates a Relay (Manager.NewRelay; ErrNoPorts: 503) and gives it leg A
//     (Relay.SetLeg with Session.AudioAddr, the codec and the telephone-event type);
//  3. offers to the callee with the relay's port of leg B (NewOffer, the caller's codec
//     first so that no transcoding is needed when the callee has it);
//  4. reads the callee's answer (Parse, Negotiate with the codecs it offered) into leg B;
//  5. answers the caller with the relay's port of leg A (NewAnswer), and calls
//     Relay.ArmTimeout once the call is answered;
//  6. on a re-INVITE, negotiates again, calls SetLeg with the new SDP of that leg and
//     SetHold(Session.OnHold()), and relays the offer to the other leg;
//  7. hangs up when Relay.Timeout delivers a leg, and calls Relay.Close when the call ends.
//
// For an IVR the engine answers the caller with leg A only (leg B has no SetLeg until a
// callee is dialled), sets Relay.OnDTMF for leg A and plays prompts to it with Relay.Play,
// waiting on Playback.Done, a key or a timer; a new Play or Playback.Stop ends the prompt
// (barge-in). Prompts are Audio values, 8 kHz 16-bit mono, that the API makes from uploaded
// files with DecodeWAV (ErrUnsupportedAudio and ErrTooLarge are the user's errors) and
// stores with EncodeWAV.
//
// A Relay has two sockets and nothing else running per call: on Linux the Manager's poller
// (one goroutine and one epoll set per processor) reads every relay's sockets, so a packet
// costs a recvfrom and a sendto and no goroutine wake-up of its own (elsewhere each leg has
// a reading goroutine); timeouts are timers that fire only when a leg may have gone silent,
// metrics are read from per-relay atomic counters at scrape time, and the per-packet path
// does not allocate. The same holds for the IVR parts:
//
//   - Playback (play.go) has no goroutine or ticker per prompt: one clock per Manager,
//     started with the first playback and stopped with the last, sends every 20 ms the
//     frames each playback has due (from its start time, so nothing drifts; more than
//     200 ms behind, it skips ahead instead of bursting). A leg's prompts are one RTP stream
//     of their own (SSRC, sequence, timestamps that follow the wall clock between prompts);
//     while a leg plays, packets from the other leg are not relayed to it (DropPlaying).
//   - DTMF (dtmf.go) is decoded in the per-packet path, without allocating, from RFC 4733
//     packets the relay accepted (negotiated type, latched source), before the check for a
//     destination, so keys are heard while leg B does not exist; each press is reported
//     once (by RTP timestamp and SSRC) and the events are still relayed as before.
//   - WAV decoding (wav.go) reads PCM, float and G.711 WAVs of any channel count and rate
//     and resamples with a windowed-sinc low-pass (no aliasing from 44.1 or 48 kHz
//     recordings); it reads at most the caller's byte limit and is fuzzed (FuzzDecodeWAV).
//
// Recording and the listen/whisper/barge mixer will be siblings of Relay in this package.
//
// This package writes its own small SDP parser instead of using diago's media/sdp: diago's
// keeps an SDP as a map of line types, which loses the order and the level (session or
// media) of attributes that offer/answer depends on, and is lenient where the relay needs
// strict input. It is fuzzed (FuzzParse).
package media
