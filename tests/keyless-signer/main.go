// Command keyless-signer makes real keyless (Fulcio + Rekor style) cosign signatures for the
// tests, offline: a fresh root CA and intermediate stand in for Fulcio, a fresh ECDSA P-256 key
// for Rekor. It writes the Sigstore trusted root (`trusted_root.json`) naming them, issues a
// 10-minute leaf certificate for an OIDC identity (SAN + Fulcio's issuer extensions
// 1.3.6.1.4.1.57264.1.1 and .1.8), signs cosign's simple-signing payload for an image digest,
// makes the hashedrekord entry and its signed entry timestamp (SET) over the canonical JSON of
// {body, integratedTime, logID, logIndex}, and pushes the `.sig` manifest (cosign's layout and
// annotations) to the registry. With -bundle it makes what `cosign sign --new-bundle-format`
// makes instead: a Sigstore bundle (DSSE envelope over an in-toto statement, the certificate,
// the Rekor `dsse` entry with its SET, an RFC 6962 inclusion proof and a signed checkpoint),
// pushed as an OCI referrer of the digest. With -proof it writes an inclusion proof for the
// `.sig` entry too (for unit tests).
//
// Usage:
//
//	keyless-signer -out DIR -subject S -issuer I [-image HOST/repo@sha256:HEX] [-bundle]
//	    [-tamper set|body|signature|ca|proof] [-proof FILE] [-layer FILE]
//
// Nothing here is a production CA: the keys live for one run and are thrown away.
package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var (
	oidIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
)

// sigstore is one run's stand-in for Fulcio and Rekor.
type sigstore struct {
	root, inter       *x509.Certificate
	interKey, rekorKy *ecdsa.PrivateKey
}

func newKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err, "generate a key")
	return k
}

func issue(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	check(err, "issue a certificate")
	c, err := x509.ParseCertificate(der)
	check(err, "parse the certificate")
	return c
}

func newSigstore(now time.Time) *sigstore {
	rootKey := newKey()
	rootTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "test-fulcio-root", Organization: []string{"kubectl-promote tests"}},
		NotBefore:             now.Add(-5 * time.Hour),
		NotAfter:              now.Add(5 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	root := issue(rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	interKey := newKey()
	inter := issue(&x509.Certificate{
		SerialNumber:          big.NewInt(2),
		Subject:               pkix.Name{CommonName: "test-fulcio-intermediate", Organization: []string{"kubectl-promote tests"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(2 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}, root, interKey.Public(), rootKey)
	return &sigstore{root: root, inter: inter, interKey: interKey, rekorKy: newKey()}
}

// leaf issues a Fulcio-style certificate for subject (a URI or an email) from issuer, valid for
// 10 minutes from now.
func (s *sigstore) leaf(subject, issuer string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey) {
	key := newKey()
	v2, err := asn1.MarshalWithParams(issuer, "utf8")
	check(err, "encode the issuer")
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		NotBefore:    now.Add(-time.Second),
		NotAfter:     now.Add(10 * time.Minute),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		ExtraExtensions: []pkix.Extension{
			{Id: oidIssuerV1, Value: []byte(issuer)},
			{Id: oidIssuerV2, Value: v2},
		},
	}
	if strings.Contains(subject, "://") {
		u, err := url.Parse(subject)
		check(err, "parse the subject URI")
		tmpl.URIs = []*url.URL{u}
	} else {
		tmpl.EmailAddresses = []string{subject}
	}
	return issue(tmpl, s.inter, key.Public(), s.interKey), key
}

func logID(k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	check(err, "encode the Rekor key")
	id := sha256.Sum256(der)
	return id[:]
}

func signHash(k *ecdsa.PrivateKey, msg []byte) []byte {
	h := sha256.Sum256(msg)
	sig, err := ecdsa.SignASN1(rand.Reader, k, h[:])
	check(err, "sign")
	return sig
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func certPEM(c ...*x509.Certificate) []byte {
	var out bytes.Buffer
	for _, x := range c {
		check(pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: x.Raw}), "PEM")
	}
	return out.Bytes()
}

// trustedRoot is the Sigstore trusted root (protobuf-specs TrustedRoot, JSON form).
func (s *sigstore) trustedRoot(now time.Time) []byte {
	rekorDER, err := x509.MarshalPKIXPublicKey(s.rekorKy.Public())
	check(err, "encode the Rekor key")
	start := now.Add(-5 * time.Hour).UTC().Format(time.RFC3339)
	doc := map[string]any{
		"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
		"tlogs": []any{map[string]any{
			"baseUrl":       "https://rekor.test.invalid",
			"hashAlgorithm": "SHA2_256",
			"publicKey": map[string]any{
				"rawBytes":   b64(rekorDER),
				"keyDetails": "PKIX_ECDSA_P256_SHA_256",
				"validFor":   map[string]any{"start": start},
			},
			"logId": map[string]any{"keyId": b64(logID(s.rekorKy))},
		}},
		"certificateAuthorities": []any{map[string]any{
			"subject": map[string]any{"organization": "kubectl-promote tests", "commonName": "test-fulcio"},
			"uri":     "https://fulcio.test.invalid",
			"certChain": map[string]any{"certificates": []any{
				map[string]any{"rawBytes": b64(s.inter.Raw)},
				map[string]any{"rawBytes": b64(s.root.Raw)},
			}},
			"validFor": map[string]any{"start": start},
		}},
		"ctlogs":               []any{},
		"timestampAuthorities": []any{},
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	check(err, "encode the trusted root")
	return out
}

// entry is a Rekor log entry as cosign's bundle annotation carries it.
type entry struct {
	Body           string `json:"body"`
	IntegratedTime int64  `json:"integratedTime"`
	LogID          string `json:"logID"`
	LogIndex       int64  `json:"logIndex"`
}

// hashedrekord is the entry body Rekor stores for a signature over a payload's sha256.
func hashedrekord(payload, sig []byte, cert *x509.Certificate) []byte {
	h := sha256.Sum256(payload)
	body := map[string]any{
		"apiVersion": "0.0.1",
		"kind":       "hashedrekord",
		"spec": map[string]any{
			"data":      map[string]any{"hash": map[string]any{"algorithm": "sha256", "value": hex.EncodeToString(h[:])}},
			"signature": map[string]any{"content": b64(sig), "publicKey": map[string]any{"content": b64(certPEM(cert))}},
		},
	}
	out, err := json.Marshal(body)
	check(err, "encode the entry body")
	return out
}

type signed struct {
	payload     []byte
	annotations map[string]string
	body        []byte
	index       int64
}

func (s *sigstore) sign(ref name.Digest, subject, issuer, tamper string, now time.Time) signed {
	ca := s
	if tamper == "ca" {
		// Another CA issues the certificate; the log is still the trusted one.
		ca = newSigstore(now)
	}
	cert, key := ca.leaf(subject, issuer, now)
	payload, err := json.Marshal(map[string]any{
		"critical": map[string]any{
			"identity": map[string]any{"docker-reference": ref.Context().Name()},
			"image":    map[string]any{"docker-manifest-digest": ref.DigestStr()},
			"type":     "cosign container image signature",
		},
		"optional": nil,
	})
	check(err, "encode the payload")
	sig := signHash(key, payload)
	body := hashedrekord(payload, sig, cert)
	e := entry{Body: b64(body), IntegratedTime: now.Unix(), LogID: hex.EncodeToString(logID(s.rekorKy)), LogIndex: 3}
	canonical, err := json.Marshal(e) // fields in key order, no spaces: canonical JSON
	check(err, "encode the entry")
	set := signHash(s.rekorKy, canonical)
	switch tamper {
	case "set":
		set[len(set)-1] ^= 1
	case "body":
		// The log holds another signature than the layer's.
		e.Body = b64(hashedrekord(payload, signHash(key, payload), cert))
		canonical, _ = json.Marshal(e)
		set = signHash(s.rekorKy, canonical)
	case "signature":
		sig = signHash(key, []byte("something else"))
	case "", "ca":
	default:
		log.Fatalf("-tamper: unknown %q for a .sig (set, body, signature, ca)", tamper)
	}
	bundle, err := json.Marshal(map[string]any{"SignedEntryTimestamp": b64(set), "Payload": e})
	check(err, "encode the bundle")
	return signed{
		payload: payload,
		annotations: map[string]string{
			"dev.cosignproject.cosign/signature": b64(sig),
			"dev.sigstore.cosign/certificate":    string(certPEM(cert)),
			"dev.sigstore.cosign/chain":          string(certPEM(ca.inter, ca.root)),
			"dev.sigstore.cosign/bundle":         string(bundle),
		},
		body:  body,
		index: e.LogIndex,
	}
}

func push(ref name.Digest, sg signed) {
	layer := static.NewLayer(sg.payload, "application/vnd.dev.cosign.simplesigning.v1+json")
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layer, Annotations: sg.annotations})
	check(err, "build the signature image")
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	tag := ref.Context().Tag(strings.Replace(ref.DigestStr(), ":", "-", 1) + ".sig")
	check(remote.Write(tag, img), "push "+tag.String())
}

func leafHash(b []byte) []byte {
	h := sha256.Sum256(append([]byte{0}, b...))
	return h[:]
}

func nodeHash(l, r []byte) []byte {
	h := sha256.Sum256(append(append([]byte{1}, l...), r...))
	return h[:]
}

// mth is RFC 6962's Merkle tree hash of leaves (already leaf-hashed).
func mth(leaves [][]byte) []byte {
	if len(leaves) == 1 {
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	return nodeHash(mth(leaves[:k]), mth(leaves[k:]))
}

// path is RFC 6962's audit path of leaf m.
func path(m int, leaves [][]byte) [][]byte {
	if len(leaves) <= 1 {
		return nil
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	if m < k {
		return append(path(m, leaves[:k]), mth(leaves[k:]))
	}
	return append(path(m-k, leaves[k:]), mth(leaves[:k]))
}

// inclusionProof is the entry's inclusion proof in a 7-leaf tree and the checkpoint (a signed
// note: origin, size, root hash; signed by the Rekor key with its 4-byte key hint), as a
// bundle's `inclusionProof` holds them. tamper "proof" alters one hash of the path.
func (s *sigstore) inclusionProof(body []byte, index int64, tamper string) map[string]any {
	const size = 7
	leaves := make([][]byte, size)
	for i := range leaves {
		leaves[i] = leafHash([]byte(fmt.Sprintf("other entry %d", i)))
	}
	leaves[index] = leafHash(body)
	root := mth(leaves)
	note := fmt.Sprintf("rekor.test.invalid - 42\n%d\n%s\n", size, b64(root))
	der, err := x509.MarshalPKIXPublicKey(s.rekorKy.Public())
	check(err, "encode the Rekor key")
	hint := sha256.Sum256(der)
	sig := append(hint[:4:4], signHash(s.rekorKy, []byte(note))...)
	checkpoint := note + "\n\u2014 rekor.test.invalid " + b64(sig) + "\n"
	var hashes []string
	for _, h := range path(int(index), leaves) {
		if tamper == "proof" && len(hashes) == 1 {
			h = append([]byte{h[0] ^ 1}, h[1:]...)
		}
		hashes = append(hashes, b64(h))
	}
	return map[string]any{
		"logIndex":   fmt.Sprint(index),
		"rootHash":   b64(root),
		"treeSize":   fmt.Sprint(size),
		"hashes":     hashes,
		"checkpoint": map[string]any{"envelope": checkpoint},
	}
}

// proof writes the `.sig` entry's inclusion proof (for the unit tests of the Merkle path).
func (s *sigstore) proof(sg signed, file string) {
	out, err := json.MarshalIndent(map[string]any{
		"canonicalizedBody": b64(sg.body),
		"inclusionProof":    s.inclusionProof(sg.body, sg.index, ""),
	}, "", "  ")
	check(err, "encode the proof")
	check(os.WriteFile(file, out, 0o644), "write "+file)
}

const (
	bundleType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	inToto     = "application/vnd.in-toto+json"
	cosignSign = "https://sigstore.dev/cosign/sign/v1"
)

// signBundle makes what `cosign sign --new-bundle-format` makes keylessly: a Sigstore bundle
// (v0.3) holding a DSSE envelope over an in-toto statement about the digest (predicate
// cosign/sign/v1), the leaf certificate, and the Rekor `dsse` entry with its SET and an
// inclusion proof with a checkpoint.
func (s *sigstore) signBundle(ref name.Digest, subject, issuer, tamper string, now time.Time) []byte {
	ca := s
	if tamper == "ca" {
		ca = newSigstore(now)
	}
	cert, key := ca.leaf(subject, issuer, now)
	statement, err := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": ref.Context().Name(), "digest": map[string]any{"sha256": strings.TrimPrefix(ref.DigestStr(), "sha256:")}}},
		"predicateType": cosignSign,
		"predicate":     map[string]any{},
	})
	check(err, "encode the statement")
	pae := fmt.Sprintf("DSSEv1 %d %s %d %s", len(inToto), inToto, len(statement), statement)
	sig := signHash(key, []byte(pae))
	envelope := map[string]any{
		"payload":     b64(statement),
		"payloadType": inToto,
		"signatures":  []any{map[string]any{"sig": b64(sig), "keyid": ""}},
	}
	envelopeJSON, err := json.Marshal(envelope)
	check(err, "encode the envelope")
	envelopeHash, payloadHash := sha256.Sum256(envelopeJSON), sha256.Sum256(statement)
	body, err := json.Marshal(map[string]any{
		"apiVersion": "0.0.1",
		"kind":       "dsse",
		"spec": map[string]any{
			"envelopeHash": map[string]any{"algorithm": "sha256", "value": hex.EncodeToString(envelopeHash[:])},
			"payloadHash":  map[string]any{"algorithm": "sha256", "value": hex.EncodeToString(payloadHash[:])},
			"signatures":   []any{map[string]any{"signature": b64(sig), "verifier": b64(certPEM(cert))}},
		},
	})
	check(err, "encode the entry body")
	e := entry{Body: b64(body), IntegratedTime: now.Unix(), LogID: hex.EncodeToString(logID(s.rekorKy)), LogIndex: 3}
	canonical, err := json.Marshal(e)
	check(err, "encode the entry")
	set := signHash(s.rekorKy, canonical)
	if tamper == "set" {
		set[len(set)-1] ^= 1
	}
	bundle, err := json.Marshal(map[string]any{
		"mediaType": bundleType,
		"verificationMaterial": map[string]any{
			"certificate": map[string]any{"rawBytes": b64(cert.Raw)},
			"tlogEntries": []any{map[string]any{
				"logIndex":          fmt.Sprint(e.LogIndex),
				"logId":             map[string]any{"keyId": b64(logID(s.rekorKy))},
				"kindVersion":       map[string]any{"kind": "dsse", "version": "0.0.1"},
				"integratedTime":    fmt.Sprint(e.IntegratedTime),
				"inclusionPromise":  map[string]any{"signedEntryTimestamp": b64(set)},
				"inclusionProof":    s.inclusionProof(body, e.LogIndex, tamper),
				"canonicalizedBody": b64(body),
			}},
		},
		"dsseEnvelope": envelope,
	})
	check(err, "encode the bundle")
	return bundle
}

// rawManifest is a manifest written as is.
type rawManifest []byte

func (m rawManifest) RawManifest() ([]byte, error)        { return m, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

// pushBundle pushes the bundle as an OCI referrer of the digest (an artifact manifest whose
// subject is the image), as cosign does; go-containerregistry updates the referrers fallback
// tag where the registry has no referrers API.
func pushBundle(ref name.Digest, bundle []byte, now time.Time) {
	subject, err := remote.Head(ref)
	check(err, "HEAD "+ref.String())
	layer := static.NewLayer(bundle, bundleType)
	config := static.NewLayer([]byte("{}"), "application/vnd.oci.empty.v1+json")
	for _, l := range []v1.Layer{layer, config} {
		check(remote.WriteLayer(ref.Context(), l), "push a blob")
	}
	descriptor := func(l v1.Layer, mt string) map[string]any {
		d, err := l.Digest()
		check(err, "digest")
		n, err := l.Size()
		check(err, "size")
		return map[string]any{"mediaType": mt, "digest": d.String(), "size": n}
	}
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     string(types.OCIManifestSchema1),
		"artifactType":  bundleType,
		"config":        descriptor(config, "application/vnd.oci.empty.v1+json"),
		"layers":        []any{descriptor(layer, bundleType)},
		"subject":       map[string]any{"mediaType": string(subject.MediaType), "digest": subject.Digest.String(), "size": subject.Size},
		"annotations": map[string]any{
			"dev.sigstore.bundle.content":       "dsse-envelope",
			"dev.sigstore.bundle.predicateType": cosignSign,
			"org.opencontainers.image.created":  now.UTC().Format(time.RFC3339),
		},
	})
	check(err, "encode the manifest")
	sum := sha256.Sum256(manifest)
	at := ref.Context().Digest("sha256:" + hex.EncodeToString(sum[:]))
	check(remote.Put(at, rawManifest(manifest)), "push the bundle manifest")
}

func main() {
	out := flag.String("out", "", "directory for trusted_root.json (required)")
	subject := flag.String("subject", "", "the certificate's identity: a URI or an email (required)")
	issuer := flag.String("issuer", "", "the OIDC issuer (required)")
	image := flag.String("image", "", "HOST/repo@sha256:HEX to sign; its .sig is pushed over plain HTTP")
	tamper := flag.String("tamper", "", "break one thing: set, body, signature, ca (a CA outside the trusted root issues the certificate) or, with -bundle, proof")
	proofFile := flag.String("proof", "", "also write an inclusion proof and checkpoint for the entry here")
	layerFile := flag.String("layer", "", "write the signature layer (payload and annotations), or with -bundle the bundle, here instead of pushing")
	asBundle := flag.Bool("bundle", false, "sign as a Sigstore bundle referrer (cosign --new-bundle-format) instead of a .sig")
	flag.Parse()
	if *out == "" || *subject == "" || *issuer == "" {
		flag.Usage()
		os.Exit(2)
	}
	now := time.Now().Truncate(time.Second)
	s := newSigstore(now)
	check(os.MkdirAll(*out, 0o755), "mkdir "+*out)
	check(os.WriteFile(filepath.Join(*out, "trusted_root.json"), s.trustedRoot(now), 0o644), "write the trusted root")
	// The same trust for cosign's older flags (SIGSTORE_ROOT_FILE, SIGSTORE_REKOR_PUBLIC_KEY).
	check(os.WriteFile(filepath.Join(*out, "fulcio.pem"), certPEM(s.inter, s.root), 0o644), "write fulcio.pem")
	rekorDER, err := x509.MarshalPKIXPublicKey(s.rekorKy.Public())
	check(err, "encode the Rekor key")
	check(os.WriteFile(filepath.Join(*out, "rekor.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rekorDER}), 0o644), "write rekor.pub")
	if *image == "" {
		return
	}
	ref, err := name.NewDigest(*image, name.Insecure)
	check(err, "-image")
	if *asBundle {
		bundle := s.signBundle(ref, *subject, *issuer, *tamper, now)
		if *layerFile != "" {
			check(os.WriteFile(*layerFile, bundle, 0o644), "write "+*layerFile)
		} else {
			pushBundle(ref, bundle, now)
		}
		fmt.Println(ref.DigestStr())
		return
	}
	sg := s.sign(ref, *subject, *issuer, *tamper, now)
	if *layerFile != "" {
		layer, err := json.MarshalIndent(map[string]any{"payload": b64(sg.payload), "annotations": sg.annotations}, "", "  ")
		check(err, "encode the layer")
		check(os.WriteFile(*layerFile, layer, 0o644), "write "+*layerFile)
	}
	if *proofFile != "" {
		s.proof(sg, *proofFile)
	}
	if *layerFile == "" {
		push(ref, sg)
	}
	fmt.Println(ref.DigestStr())
}

func check(err error, what string) {
	if err != nil {
		log.Fatalf("%s: %v", what, err)
	}
}
