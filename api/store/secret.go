package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Secrets Centrala must use in clear (a trunk's password, for outbound REGISTER and INVITE
// digest) are kept sealed with AES-256-GCM; secrets it only verifies are hashed instead.

// ErrNoSecretKey: a secret was to be sealed or opened and the store has no key.
var ErrNoSecretKey = errors.New("store: no secret key configured")

const sealPrefix = "v1:"

type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("store: secret key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

// seal encrypts plain bound to its purpose (additional data), "" stays "".
func (s *sealer) seal(plain, purpose string) (string, error) {
	if plain == "" {
		return "", nil
	}
	if s == nil {
		return "", ErrNoSecretKey
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := s.aead.Seal(nonce, nonce, []byte(plain), []byte(purpose))
	return sealPrefix + base64.RawStdEncoding.EncodeToString(out), nil
}

func (s *sealer) open(sealed, purpose string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	if s == nil {
		return "", ErrNoSecretKey
	}
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(sealed, sealPrefix))
	if err != nil || !strings.HasPrefix(sealed, sealPrefix) || len(b) < s.aead.NonceSize() {
		return "", errors.New("store: sealed secret is malformed")
	}
	plain, err := s.aead.Open(nil, b[:s.aead.NonceSize()], b[s.aead.NonceSize():], []byte(purpose))
	if err != nil {
		return "", errors.New("store: sealed secret does not open with this key")
	}
	return string(plain), nil
}

// LoadSecretKey returns the key for sealed secrets: CENTRALA_SECRET_KEY (base64 of 32 bytes)
// when set (every node of a cluster needs the same), else the file secret.key in dataDir,
// created with 32 random bytes on first use.
func LoadSecretKey(env, path string) ([]byte, error) {
	if env != "" {
		k, err := base64.StdEncoding.DecodeString(env)
		if err != nil || len(k) != 32 {
			return nil, errors.New("CENTRALA_SECRET_KEY must be the base64 of 32 bytes")
		}
		return k, nil
	}
	if b, err := os.ReadFile(path); err == nil {
		if len(b) != 32 {
			return nil, fmt.Errorf("secret key %s: want 32 bytes, got %d", path, len(b))
		}
		return b, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, k, 0o600); err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return k, nil
}

// SetSecretKey sets the key sealing secrets (trunk passwords). Call it once after Open.
func (db *DB) SetSecretKey(key []byte) error {
	s, err := newSealer(key)
	if err != nil {
		return err
	}
	db.sealer = s
	return nil
}
