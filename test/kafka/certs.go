package kafkatest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// certificates writes a CA (ca.pem) and a keystore for 127.0.0.1 and localhost (keystore.pem:
// PKCS#8 key and certificate chain, which Kafka reads as a PEM keystore). The certificate
// serves both ends: a broker's, or a client's for mutual TLS.
func certificates(dir string) (caFile, keystoreFile string, err error) {
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", err
	}
	now := time.Now()
	caTpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ferry test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTpl, caTpl, &caKey.PublicKey, caKey)
	if err != nil {
		return "", "", err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", err
	}
	tpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	caCert, _ := x509.ParseCertificate(caDER)
	der, err := x509.CreateCertificate(rand.Reader, tpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return "", "", err
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	caFile = filepath.Join(dir, "ca.pem")
	keystoreFile = filepath.Join(dir, "keystore.pem")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	ks := append(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	ks = append(ks, caPEM...)
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		return "", "", err
	}
	return caFile, keystoreFile, os.WriteFile(keystoreFile, ks, 0o600)
}

// keytool runs the JDK's keytool, which writes the PKCS#12 stores Kafka Connect's REST
// server (Jetty) needs: it reads no PEM keystores.
func keytool(dir string, args ...string) error {
	java, err := exec.LookPath("java")
	if err != nil {
		return err
	}
	if real, err := filepath.EvalSymlinks(java); err == nil {
		java = real
	}
	cmd := exec.Command(filepath.Join(filepath.Dir(java), "keytool"), args...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("keytool %s: %v\n%s", args[0], err, out)
	}
	return nil
}

// restStores writes what an https Connect REST server with client authentication needs: a
// self-signed server key pair (server.p12, its certificate in server.pem for clients to trust)
// and a trust store (trust.p12) holding clientCA. The store password is storePassword.
func restStores(dir, clientCA string) (serverPEM string, err error) {
	steps := [][]string{
		{"-genkeypair", "-alias", "connect", "-keyalg", "RSA", "-keysize", "2048", "-validity", "2",
			"-dname", "CN=localhost", "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-ext", "BC:c=ca:true",
			"-keystore", "server.p12", "-storetype", "PKCS12", "-storepass", storePassword, "-keypass", storePassword},
		{"-exportcert", "-rfc", "-alias", "connect", "-keystore", "server.p12", "-storepass", storePassword, "-file", "server.pem"},
		{"-importcert", "-noprompt", "-alias", "client-ca", "-file", clientCA, "-keystore", "trust.p12", "-storetype", "PKCS12", "-storepass", storePassword},
	}
	for _, s := range steps {
		if err := keytool(dir, s...); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, "server.pem"), nil
}

const storePassword = "ferry-test-store"
