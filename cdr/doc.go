// Package cdr will build call detail records (one per interaction, with its legs and queue
// attempts) from the engine's call events, store them and export them as CSV. It is empty
// until calls arrive (the calls issue).
package cdr
