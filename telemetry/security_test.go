package telemetry

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

var tlsConfigForTest tls.Config

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files.
type testPKI struct {
	dir                       string
	ca, serverCert, serverKey string
	clientCert, clientKey     string
	pool                      *x509.CertPool
	server                    tls.Certificate
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{dir: t.TempDir(), pool: x509.NewCertPool()}
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(p.dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "anther test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	p.pool.AddCert(caCert)
	p.ca = write("ca.pem", "CERTIFICATE", caDER)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage, ip bool) (string, string) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage},
			KeyUsage: x509.KeyUsageDigitalSignature}
		if ip {
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return write(name+".pem", "CERTIFICATE", der), write(name+".key", "EC PRIVATE KEY", kder)
	}
	p.serverCert, p.serverKey = leaf("server", 2, x509.ExtKeyUsageServerAuth, true)
	p.clientCert, p.clientKey = leaf("client", 3, x509.ExtKeyUsageClientAuth, false)
	if p.server, err = tls.LoadX509KeyPair(p.serverCert, p.serverKey); err != nil {
		t.Fatal(err)
	}
	return p
}

// bridgeOnline runs a bridge against url and reports whether it published
// its status "online" within wait.
func bridgeOnline(t *testing.T, url string, mod func(*BridgeConfig), wait time.Duration) bool {
	t.Helper()
	b, _ := newTestBridge(t, func(c *BridgeConfig) {
		c.Broker = url
		c.RobotID = "secure"
		mod(c)
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if st := b.Stats(); st.Connected && st.Connects > 0 {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// TestSecurity: username/password and TLS with client certificates, with
// mosquitto and with the embedded broker.
func TestSecurity(t *testing.T) {
	if testing.Short() {
		t.Skip("starts brokers")
	}
	pki := newTestPKI(t)
	passwd, err := exec.LookPath("mosquitto_passwd")
	if err != nil {
		t.Fatalf("mosquitto_passwd: %v (make deps installs mosquitto)", err)
	}
	pwFile := filepath.Join(t.TempDir(), "passwords")
	if out, err := exec.Command(passwd, "-b", "-c", pwFile, "robot", "s3cret").CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_passwd: %v: %s", err, out)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	brokers := map[string]struct{ password, tls string }{}
	m := startMosquittoConf(t, "allow_anonymous false\npassword_file "+pwFile+"\n")
	mt := startMosquittoConf(t, "allow_anonymous true\nrequire_certificate true\ncafile "+pki.ca+
		"\ncertfile "+pki.serverCert+"\nkeyfile "+pki.serverKey+"\n")
	brokers["mosquitto"] = struct{ password, tls string }{m.URL(), "ssl://" + mt.Addr()}
	eb, err := StartBroker(t.Context(), BrokerConfig{Addr: "127.0.0.1:0", Users: map[string]string{"robot": "s3cret"}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer eb.Close()
	et, err := StartBroker(t.Context(), BrokerConfig{Addr: "127.0.0.1:0", Logger: quiet, TLS: &tls.Config{
		Certificates: []tls.Certificate{pki.server}, ClientCAs: pki.pool, ClientAuth: tls.RequireAndVerifyClientCert}})
	if err != nil {
		t.Fatal(err)
	}
	defer et.Close()
	brokers["embedded"] = struct{ password, tls string }{eb.URL(), et.URL()}

	withCert, err := LoadTLS(pki.ca, pki.clientCert, pki.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	caOnly, err := LoadTLS(pki.ca, "", "")
	if err != nil {
		t.Fatal(err)
	}
	for name, u := range brokers {
		t.Run(name, func(t *testing.T) {
			if !bridgeOnline(t, u.password, func(c *BridgeConfig) { c.Username, c.Password = "robot", "s3cret" }, 10*time.Second) {
				t.Error("right password: not connected")
			}
			if bridgeOnline(t, u.password, func(c *BridgeConfig) { c.Username, c.Password = "robot", "wrong" }, time.Second) {
				t.Error("wrong password: connected")
			}
			if !bridgeOnline(t, u.tls, func(c *BridgeConfig) { c.TLS = withCert }, 10*time.Second) {
				t.Error("TLS with a client certificate: not connected")
			}
			if bridgeOnline(t, u.tls, func(c *BridgeConfig) { c.TLS = caOnly }, time.Second) {
				t.Error("TLS without the required client certificate: connected")
			}
		})
	}
	if _, err := LoadTLS(pki.ca, pki.clientCert, ""); err == nil {
		t.Error("LoadTLS with a certificate and no key: no error")
	}
	if _, err := LoadTLS(pki.clientKey, "", ""); err == nil {
		t.Error("LoadTLS with a key as CA: no error")
	}
}
