//! The HTTP endpoint on `metrics.address`: `GET /metrics` (Prometheus text), `/healthz` (the
//! process is up), `/readyz` (200 only while the upstream answers and the trail can be written)
//! and `/checkpoint` (the newest checkpoint record as written, 404 before the first).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::Probes;

/// Serves until `shutdown` turns true. Each connection is a task in a `JoinSet` owned here.
///
/// # Cancellation safety
/// Dropping the future aborts every connection task with it.
pub async fn serve<P: Probes>(
    listener: TcpListener,
    registry: Registry,
    probes: Arc<P>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let registry = registry.clone();
                let probes = probes.clone();
                conns.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let registry = registry.clone();
                        let probes = probes.clone();
                        async move { Ok::<_, Infallible>(respond(req, &registry, probes.as_ref()).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    conns.shutdown().await;
}

async fn respond<P: Probes>(
    req: Request<Incoming>,
    registry: &Registry,
    probes: &P,
) -> Response<Full<Bytes>> {
    if req.method() != Method::GET {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET is served\n".into(),
        );
    }
    match req.uri().path() {
        "/metrics" => {
            let mut resp = text(StatusCode::OK, super::render(registry));
            if let Ok(v) = "text/plain; version=0.0.4; charset=utf-8".parse() {
                resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
            }
            resp
        }
        "/healthz" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => match probes.ready().await {
            Ok(()) => text(StatusCode::OK, "ready\n".into()),
            Err(why) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not ready: {why}\n"),
            ),
        },
        "/checkpoint" => match probes.latest_checkpoint() {
            Some(line) => text(StatusCode::OK, format!("{line}\n")),
            None => text(
                StatusCode::NOT_FOUND,
                "no checkpoint has been written yet\n".into(),
            ),
        },
        _ => text(StatusCode::NOT_FOUND, "not found\n".into()),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp
}
