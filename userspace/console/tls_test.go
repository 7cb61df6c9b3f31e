package console

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// certs makes a CA, a server certificate for 127.0.0.1 and a client
// certificate, all signed by the CA, and a client certificate of another CA.
type certs struct {
	caFile, serverCert, serverKey string
	pool                          *x509.CertPool
	client, stranger              tls.Certificate
}

func makeCerts(t *testing.T) certs {
	t.Helper()
	dir := t.TempDir()
	issue := func(tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if parent == nil {
			parent, parentKey = tmpl, key
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := x509.ParseCertificate(der)
		return c, key, der
	}
	tmpl := func(n int64, cn string, ca bool, usage x509.ExtKeyUsage) *x509.Certificate {
		c := &x509.Certificate{SerialNumber: big.NewInt(n), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: ca}
		if !ca {
			c.ExtKeyUsage = []x509.ExtKeyUsage{usage}
			c.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		}
		return c
	}
	pemFile := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		b, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ca, caKey, caDER := issue(tmpl(1, "console test CA", true, 0), nil, nil)
	_, srvKey, srvDER := issue(tmpl(2, "console", false, x509.ExtKeyUsageServerAuth), ca, caKey)
	_, cliKey, cliDER := issue(tmpl(3, "analyst", false, x509.ExtKeyUsageClientAuth), ca, caKey)
	other, otherKey, _ := issue(tmpl(4, "other CA", true, 0), nil, nil)
	_, strKey, strDER := issue(tmpl(5, "stranger", false, x509.ExtKeyUsageClientAuth), other, otherKey)
	c := certs{
		caFile:     pemFile("ca.pem", "CERTIFICATE", caDER),
		serverCert: pemFile("server.pem", "CERTIFICATE", srvDER),
		serverKey:  pemFile("server.key", "EC PRIVATE KEY", keyDER(srvKey)),
		pool:       x509.NewCertPool(),
		client:     tls.Certificate{Certificate: [][]byte{cliDER}, PrivateKey: cliKey},
		stranger:   tls.Certificate{Certificate: [][]byte{strDER}, PrivateKey: strKey},
	}
	c.pool.AddCert(ca)
	return c
}

// Client certificates stand in for a token beyond loopback: only a
// certificate of the configured CA gets a page.
func TestClientCertificates(t *testing.T) {
	c := makeCerts(t)
	dir := writeFixture(t)
	cfg := Config{Addr: "198.51.100.1:8443", TLSCert: c.serverCert, TLSKey: c.serverKey, ClientCA: c.caFile}
	s := newTestServer(t, dir, cfg)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, l) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	url := "https://" + l.Addr().String() + "/"
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: c.pool, Certificates: certs, MinVersion: tls.VersionTLS12}}}
	}
	resp, err := client(c.client).Get(url)
	if err != nil {
		t.Fatalf("with the CA's client certificate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("with the CA's client certificate: %d", resp.StatusCode)
	}
	for name, cl := range map[string]*http.Client{"no certificate": client(), "another CA's certificate": client(c.stranger)} {
		if resp, err := cl.Get(url); err == nil {
			resp.Body.Close()
			t.Errorf("%s: %d, want the handshake refused", name, resp.StatusCode)
		}
	}
}
