//! A stand-in for the shop a deploy is checked against, **not a real service**: `/healthz` (200
//! `ok`, or 500 `unhealthy`) and Prometheus's instant-query API `/api/v1/query` as Prometheus
//! documents it (`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},
//! "value":[<unix time>,"<value>"]}]}}`; a request without `query` gets 400 with
//! `{"status":"error","errorType":"bad_data",…}`). The value of every query is the shop's
//! error ratio: 0.001 while healthy, 0.25 while not. Whether it is healthy is the caller's
//! closure, asked with the number of the request (1, 2, …), so a test can turn it unhealthy for
//! a release (`ArgoCdStandIn::live_images`) or at the Nth sample. Real Prometheus is not used:
//! its module is far too big to build within CI's budget here (see docs/testbed.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Whether the shop is healthy at request `n` (1-based, counting every request).
pub type Health = Arc<dyn Fn(u64) -> bool + Send + Sync>;

/// A running shop stand-in; stops when dropped.
pub struct Shop {
    server: Arc<tiny_http::Server>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    requests: Arc<AtomicU64>,
}

impl Shop {
    pub fn start(health: Health) -> Shop {
        let server =
            Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind the shop on 127.0.0.1:0"));
        let url = format!(
            "http://127.0.0.1:{}",
            server.server_addr().to_ip().expect("ip").port()
        );
        let requests = Arc::new(AtomicU64::new(0));
        let (srv, count) = (Arc::clone(&server), Arc::clone(&requests));
        std::thread::spawn(move || {
            for request in srv.incoming_requests() {
                let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                let healthy = health(n);
                let (status, body) = answer(request.url(), healthy);
                let _ = request
                    .respond(tiny_http::Response::from_string(body).with_status_code(status));
            }
        });
        Shop {
            server,
            url,
            requests,
        }
    }

    /// How many requests it answered.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Shop {
    fn drop(&mut self) {
        self.server.unblock();
    }
}

fn answer(url: &str, healthy: bool) -> (u16, String) {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    match path {
        "/healthz" if healthy => (200, "ok".into()),
        "/healthz" => (500, "unhealthy".into()),
        "/api/v1/query" => {
            if !query
                .split('&')
                .any(|p| p.starts_with("query=") && p.len() > 6)
            {
                return (
                    400,
                    r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": empty query"}"#.into(),
                );
            }
            let now = jiff::Timestamp::now().as_second();
            let value = if healthy { "0.001" } else { "0.25" };
            (
                200,
                format!(
                    r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{}},"value":[{now},"{value}"]}}]}}}}"#
                ),
            )
        }
        _ => (404, "not found".into()),
    }
}
