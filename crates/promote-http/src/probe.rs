//! The checks' HTTP client ([`HttpProbe`], the HTTP implementation of
//! `promote_core::checks::Probe`): one GET per sample with the check's own deadline. Redirects
//! are not followed (a check's headers may carry credentials; a 3xx is an answer the check
//! judges), and an answer longer than the request's limit is no answer.

use promote_core::checks::{Probe, ProbeReply, ProbeRequest};

use crate::http::{Http, Method, Options, Redirects, Request};

/// Asks check endpoints; holds only the proxy setting.
#[derive(Debug, Clone, Default)]
pub struct HttpProbe {
    /// An `http://` proxy.
    pub proxy: Option<String>,
}

impl Probe for HttpProbe {
    fn get(&self, req: &ProbeRequest) -> Result<ProbeReply, String> {
        let http = Http::new(&Options {
            timeout: req.timeout,
            proxy: self.proxy.as_deref(),
            redirects: Redirects::Refused,
        })
        .map_err(|e| format!("the proxy: {e}"))?;
        let headers: Vec<(&str, &str)> = req
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let query: Vec<(&str, &str)> = req
            .query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let mut request = Request::new(Method::Get, &req.url, req.limit);
        request.headers = &headers;
        request.query = &query;
        let response = http.send(&request).map_err(|e| match e {
            ureq::Error::Timeout(_) => format!("no answer within {:?}", req.timeout),
            ureq::Error::BodyExceedsLimit(n) => format!("the answer is longer than {n} bytes"),
            other => other.to_string(),
        })?;
        Ok(ProbeReply {
            status: response.status,
            body: response.text(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::time::Duration;

    use super::*;

    /// A one-shot server answering `answer` and handing back the request it read.
    fn serve(answer: String) -> (String, std::thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 4096];
            let n = s.read(&mut buf).unwrap();
            s.write_all(answer.as_bytes()).unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        (url, h)
    }

    #[test]
    fn a_get_carries_headers_and_query_and_does_not_follow_redirects() {
        let (url, h) = serve(
            "HTTP/1.1 302 Found\r\nLocation: http://evil.example/\r\nContent-Length: 0\r\n\r\n"
                .into(),
        );
        let reply = HttpProbe::default()
            .get(&ProbeRequest {
                url: format!("{url}/api/v1/query"),
                query: vec![("query".into(), "sum(x) > 1".into())],
                headers: vec![("Authorization".into(), "Bearer t".into())],
                timeout: Duration::from_secs(5),
                limit: 1024,
            })
            .unwrap();
        assert_eq!(reply.status, 302);
        let seen = h.join().unwrap();
        assert!(
            seen.starts_with("GET /api/v1/query?query=sum(x)%20%3E%201 "),
            "{seen}"
        );
        assert!(
            seen.to_ascii_lowercase()
                .contains("authorization: bearer t"),
            "{seen}"
        );
    }

    #[test]
    fn a_long_answer_is_no_answer() {
        let (url, _h) = serve(format!(
            "HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n{}",
            "x".repeat(2000)
        ));
        let e = HttpProbe::default()
            .get(&ProbeRequest {
                url,
                query: vec![],
                headers: vec![],
                timeout: Duration::from_secs(5),
                limit: 10,
            })
            .unwrap_err();
        assert!(e.contains("longer than"), "{e}");
    }
}
