// Command centrala runs the Centrala PBX: SIP registrar and engine, admin API, stores.
// With no configuration it serves SIP on UDP and TCP port 5060 and the API on
// 127.0.0.1:8080, keeping its SQLite database in ./data and its state in the process.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/centrala/centrala/api"
	"github.com/centrala/centrala/api/store"
	"github.com/centrala/centrala/cdr"
	"github.com/centrala/centrala/pbx"
	"github.com/centrala/centrala/pbx/digest"
	"github.com/centrala/centrala/pbx/event"
	"github.com/centrala/centrala/pbx/media"
	"github.com/centrala/centrala/pbx/registrar"
	"github.com/centrala/centrala/pbx/registrar/redisstore"
	"github.com/centrala/centrala/pbx/trunk"
	"github.com/centrala/centrala/queue"
	"github.com/centrala/centrala/queue/memstore"
	queueredis "github.com/centrala/centrala/queue/redisstore"
	"github.com/centrala/centrala/routing"
)

func main() {
	configPath := flag.String("config", "", "YAML configuration file (also CENTRALA_CONFIG)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *configPath, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "centrala:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, configPath string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, err := loadConfig(configPath, getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	db, err := store.Open(ctx, cfg.DBURL, cfg.DataDir)
	if err != nil {
		return err
	}
	defer db.Close()
	key, err := store.LoadSecretKey(cfg.SecretKey, filepath.Join(cfg.DataDir, "secret.key"))
	if err != nil {
		return err
	}
	if err := db.SetSecretKey(key); err != nil {
		return err
	}

	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	bus := event.NewBus()

	var rc *redis.Client // nil: state in process
	var locations registrar.Store
	var agents queue.Store
	var nonceKey []byte
	if cfg.RedisURL != "" {
		opts, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			return fmt.Errorf("CENTRALA_REDIS_URL: %w", err)
		}
		rc = redis.NewClient(opts)
		defer rc.Close()
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = rc.Ping(pctx).Err()
		cancel()
		if err != nil {
			return fmt.Errorf("redis %s: %w", opts.Addr, err)
		}
		locations = redisstore.New(rc, "centrala:")
		agents = queueredis.New(rc, "centrala:")
		if nonceKey, err = sharedNonceKey(ctx, rc); err != nil {
			return err
		}
		log.Info("state in redis", "addr", opts.Addr)
	} else {
		locations = registrar.NewMemoryStore()
		agents = memstore.New()
		if nonceKey, err = fileNonceKey(filepath.Join(cfg.DataDir, "nonce.key")); err != nil {
			return err
		}
	}
	agents = newAgentStateLog(agents, db, log) // logs every state entry for the agent statistics
	algs, err := cfg.Registrar.DigestAlgorithms()
	if err != nil {
		return err
	}
	verifier := digest.NewVerifier(cfg.SIP.Realm, nonceKey, cfg.Registrar.NonceTTL, algs)
	guard, err := digest.NewGuard(cfg.Security)
	if err != nil {
		return fmt.Errorf("security.allow: %w", err)
	}
	hostname, _ := os.Hostname()
	cfg.Registrar.Node = fmt.Sprintf("%s/%d", hostname, os.Getpid())
	// Call records: those a crash left open on this node (named by its stable host name) are
	// closed as failed now; live ones are closed on a graceful stop.
	recorder, err := cdr.NewRecorder(db, bus, metrics, cdr.WithLogger(log), cdr.WithNode(hostname))
	if err != nil {
		return err
	}
	if n, err := recorder.Recover(ctx, time.Now()); err != nil {
		return fmt.Errorf("close call records left open: %w", err)
	} else if n > 0 {
		log.Warn("closed call records left open by a previous run", "records", n)
	}
	defer func() {
		if _, err := recorder.Shutdown(context.Background(), time.Now()); err != nil {
			log.Error("close live call records", "error", err)
		}
	}()
	rg, err := registrar.New(cfg.Registrar, locations, accounts{db: db, realm: cfg.SIP.Realm, log: log},
		verifier, guard, bus, registrar.WithLogger(log), registrar.WithMetrics(metrics))
	if err != nil {
		return err
	}
	plan := &dialplan{db: db, extMin: cfg.API.ExtensionMinDigits, extMax: cfg.API.ExtensionMaxDigits}
	plan.setTrunks(nil)
	mm, err := media.New(cfg.Media, media.WithRegisterer(metrics), media.WithLogger(log))
	if err != nil {
		return err
	}
	metrics.MustRegister(queueCollector{db: db, st: agents, log: log, now: time.Now, levels: &serviceLevels{}})
	// The inbound graph and the prompt files belong to the API server, made below.
	graphs := &serverGraphs{}
	prompts := newPromptCache(int64(cfg.Prompts.CacheMB) << 20)
	music := newMusicDir(cfg.Queues.MusicDir, log)
	engine, err := pbx.New(cfg.SIP, rg, verifier, guard, bus, pbx.WithLogger(log), pbx.WithMetrics(metrics),
		pbx.WithCalls(cfg.Calls, plan, mm, recorder), pbx.WithInbound(graphs, prompts),
		pbx.WithAgents(agentFeatures{db: db, st: agents, reasons: cfg.Queues.NotReadyReasons, bus: bus, now: time.Now},
			cfg.Queues.FeatureCodes), pbx.WithBusy(agents),
		pbx.WithQueues(agents, queueBackend{db: db, plan: plan, music: music}, cfg.Registrar.Node, cfg.Queues.DispatchInterval))
	if err != nil {
		return err
	}
	if err := engine.Listen(); err != nil {
		return err
	}
	trunks, err := trunk.NewManager(engine.UserAgent(), log, metrics)
	if err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(engine.UDPAddr())
	portNum, _ := strconv.Atoi(port)
	runtime := trunkRuntime{mgr: trunks, engine: engine, plan: plan, contactHost: host, contactPort: portNum, log: log}
	if _, tlsPort, err := net.SplitHostPort(engine.TLSAddr()); err == nil {
		runtime.tlsPort, _ = strconv.Atoi(tlsPort)
	}
	server, err := api.New(cfg.API, db, rg, bus, api.WithLogger(log), api.WithRegisterer(metrics),
		api.WithGatherer(metrics), api.WithTrunks(runtime), api.WithAgents(agents, cfg.Queues.NotReadyReasons))
	if err != nil {
		return err
	}
	if err := server.Bootstrap(ctx, stdout); err != nil {
		return err
	}
	plan.rules = server.Routing()
	graphs.h.Store(server.Inbound())
	prompts.path = func(ref string) (string, bool) {
		if rest, ok := strings.CutPrefix(ref, musicPrefix); ok {
			return music.path(rest)
		}
		return server.PromptPath(ref)
	}

	// The engine outlives the trunks' unREGISTERs: it stops only after they are sent.
	engineCtx, stopEngine := context.WithCancel(context.Background())
	defer stopEngine()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return engine.Run(engineCtx) })
	g.Go(func() error {
		<-gctx.Done()
		trunks.Close()
		stopEngine()
		return nil
	})
	if ts, err := db.ListTrunks(ctx); err != nil {
		log.Error("load trunks", "error", err)
	} else {
		runtime.Apply(ctx, ts)
	}
	g.Go(func() error { music.warm(gctx, prompts, queue.DefaultMusicOnHold); return nil })
	if rc != nil {
		g.Go(func() error {
			eventBridge{rc: rc, bus: bus, node: cfg.Registrar.Node, channel: "centrala:events", log: log}.run(gctx)
			return nil
		})
	}
	g.Go(func() error { return rg.Run(gctx) })
	g.Go(func() error { return server.Run(gctx) })
	g.Go(func() error {
		idleSweeper{db: db, st: agents, bus: bus, log: log, now: time.Now}.run(gctx, 15*time.Second)
		return nil
	})
	log.Info("centrala started", "sip_udp", engine.UDPAddr(), "sip_tcp", engine.TCPAddr(),
		"sip_tls", engine.TLSAddr(), "http", cfg.API.Addr, "data_dir", cfg.DataDir, "redis", cfg.RedisURL != "")
	err = g.Wait()
	log.Info("centrala stopped")
	return err
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// accounts adapts the SQL store to what the registrar asks.
type accounts struct {
	db    *store.DB
	realm string
	log   *slog.Logger
}

func (a accounts) Account(ctx context.Context, username string) (registrar.Account, error) {
	acct, err := a.db.AuthAccount(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		return registrar.Account{}, registrar.ErrNoAccount
	}
	if err != nil {
		return registrar.Account{}, err
	}
	r := registrar.Account{ID: acct.ID, UserID: acct.UserID, Username: acct.Username,
		HA1MD5: acct.HA1MD5, HA1SHA256: acct.HA1SHA256, MaxContacts: acct.MaxContacts, Disabled: acct.UserArchived}
	if acct.Realm != a.realm {
		// The secret was hashed for another realm: it cannot match until it is set again.
		a.log.Warn("sip account secret was set for another realm; set it again", "username", username,
			"account_realm", acct.Realm, "realm", a.realm)
		r.HA1MD5, r.HA1SHA256 = "", ""
	}
	return r, nil
}

// sharedNonceKey makes every process on one Redis sign nonces with the same key, so a phone
// may answer a challenge of one node on another.
func sharedNonceKey(ctx context.Context, rc *redis.Client) ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := rc.SetNX(ctx, "centrala:nonce-key", key, 0).Err(); err != nil {
		return nil, fmt.Errorf("nonce key: %w", err)
	}
	b, err := rc.Get(ctx, "centrala:nonce-key").Bytes()
	if err != nil {
		return nil, fmt.Errorf("nonce key: %w", err)
	}
	return b, nil
}

// fileNonceKey keeps the nonce key across restarts, so phones answering an older challenge
// are not refused.
func fileNonceKey(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil && len(b) >= 16 {
		return b, nil
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, key, 0o600); err != nil {
		return nil, fmt.Errorf("nonce key: %w", err)
	}
	return key, nil
}

// serverGraphs gives the engine the API server's inbound graph once the server exists.
type serverGraphs struct {
	h atomic.Pointer[routing.GraphHolder]
}

func (g *serverGraphs) Load() *routing.Graph {
	if h := g.h.Load(); h != nil {
		return h.Load()
	}
	return nil
}
