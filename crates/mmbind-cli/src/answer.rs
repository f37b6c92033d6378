//! How the protocol's requests are answered with a model and an index: the one
//! implementation behind `embed`, `query`, `add` and `classify` and behind `batch`.

use std::collections::HashMap;

use mmbind::backend::Device;
use mmbind::classify::{DEFAULT_TEMPLATES, Scored, label_embeddings, rank};
use mmbind::embed::{Embedder, Item};
use mmbind::model::Model;
use mmbind::search::{Filter, Hit, Index, Method, SearchMethod as Searched, combine};
use mmbind::vector::unit;

use serde_json::{Value, json};

use crate::output;
use crate::protocol::{Labels, Request, Search, SearchMethod, Term};

/// A classification's label set: (labels, prompt templates).
type LabelSet = (Vec<String>, Vec<String>);

/// A model loaded once (and an index opened once, for searches), answering requests.
pub struct Answerer<'a> {
    pub embedder: Embedder<'a>,
    index: Option<&'a Index>,
    /// Label embeddings by (labels, templates): scripts classify many inputs against the same labels.
    labels: HashMap<LabelSet, Vec<Vec<f32>>>,
}

impl<'a> Answerer<'a> {
    pub fn new(model: &'a Model, device: &'a Device, index: Option<&'a Index>) -> Self {
        Answerer {
            embedder: Embedder::new(model, device),
            index,
            labels: HashMap::new(),
        }
    }

    /// Embeds `items` batch by batch: one result per item, in order.
    pub fn embed(
        &self,
        items: &[Item],
        progress: &mut dyn FnMut(usize),
    ) -> Vec<mmbind::Result<Vec<f32>>> {
        self.embedder.embed_all(items, progress)
    }

    /// Embeds every term of `search` and answers it: a term that cannot be embedded fails
    /// the whole search (a sum missing a term answers another question).
    pub fn search(&self, search: &Search) -> Result<(Vec<Hit>, Searched), String> {
        let items: Vec<Item> = search.terms.iter().map(item).collect();
        let mut embedded = Vec::with_capacity(items.len());
        for (term, e) in search.terms.iter().zip(self.embed(&items, &mut |_| {})) {
            embedded.push((term.weight, e.map_err(|e| e.to_string())?));
        }
        self.search_embedded(search, &embedded)
    }

    /// Answers `search` whose terms are already embedded (`(weight, embedding)` in order).
    pub fn search_embedded(
        &self,
        search: &Search,
        embedded: &[(f32, Vec<f32>)],
    ) -> Result<(Vec<Hit>, Searched), String> {
        let index = self
            .index
            .ok_or("no index: start `mmbind batch` with --index DIR to query or add")?;
        let query = query_vector(embedded)?;
        let filter = Filter {
            modalities: search
                .options
                .modalities
                .iter()
                .map(|m| m.name().to_string())
                .collect(),
            min_score: search.options.threshold,
        };
        let method = match search.options.method {
            SearchMethod::Auto => Method::Auto,
            SearchMethod::Exact => Method::Exact,
            SearchMethod::Compressed => Method::Compressed,
            SearchMethod::Approx { ef } => Method::Approx { ef },
        };
        mmbind::search::search(index, &query, search.options.top_k, &filter, method)
            .map_err(|e| e.to_string())
    }

    /// Answers one request: the response's fields but `id` and `op` (`batch` and `serve`).
    pub fn answer(&mut self, request: Request) -> Result<Value, String> {
        match request {
            Request::Embed { inputs } => {
                let items: Vec<Item> = inputs
                    .into_iter()
                    .map(|(modality, source)| Item { modality, source })
                    .collect();
                let results = self.embed(&items, &mut |_| {});
                let ok = results.iter().all(Result::is_ok);
                let rows: Vec<Value> = items
                    .iter()
                    .zip(results)
                    .map(|(item, r)| {
                        let mut row = output::input_json(item);
                        match r {
                            Ok(e) => row["embedding"] = e.into(),
                            Err(e) => row["error"] = e.to_string().into(),
                        }
                        row
                    })
                    .collect();
                Ok(json!({"ok": ok, "embeddings": rows}))
            }
            Request::Search(search) => {
                let (hits, method) = self.search(&search)?;
                let mut resp = output::search_json(&hits, method);
                resp["ok"] = true.into();
                Ok(resp)
            }
            Request::Classify { input, labels } => {
                let (modality, source) = input;
                let item = Item { modality, source };
                let mut embedded = self.embed(std::slice::from_ref(&item), &mut |_| {});
                let embedding = embedded
                    .pop()
                    .expect("one result")
                    .map_err(|e| e.to_string())?;
                let ranked = self.classify(&labels, &embedding)?;
                Ok(json!({"ok": true, "labels": ranked}))
            }
        }
    }

    /// The labels ranked for `embedding`, best first, as many as `labels.top_k` asks.
    pub fn classify(&mut self, labels: &Labels, embedding: &[f32]) -> Result<Vec<Scored>, String> {
        let templates = if labels.templates.is_empty() {
            DEFAULT_TEMPLATES.iter().map(|t| t.to_string()).collect()
        } else {
            labels.templates.clone()
        };
        let key = (labels.labels.clone(), templates);
        if !self.labels.contains_key(&key) {
            let embeddings =
                label_embeddings(&self.embedder, &key.0, &key.1).map_err(|e| e.to_string())?;
            self.labels.insert(key.clone(), embeddings);
        }
        let ranked = rank(embedding, &key.0, &self.labels[&key]);
        let k = labels.top_k.unwrap_or(ranked.len());
        Ok(ranked.into_iter().take(k).collect())
    }
}

/// The embedder's item for a term.
pub fn item(term: &Term) -> Item {
    Item {
        modality: term.modality,
        source: term.source.clone(),
    }
}

/// The vector a search with these embedded terms looks for: `add`'s weighted sum of unit
/// vectors, renormalised (a query's one term: its unit vector).
pub fn query_vector(embedded: &[(f32, Vec<f32>)]) -> Result<Vec<f32>, String> {
    Ok(match embedded {
        // One term of weight 1 (every query): the sum would be its unit vector.
        [(w, e)] if *w == 1.0 => unit(e).ok_or("the embedding is zero or not finite")?,
        _ => {
            let weighted: Vec<(f32, &[f32])> =
                embedded.iter().map(|(w, e)| (*w, e.as_slice())).collect();
            combine(&weighted).map_err(|e| format!("cannot add these inputs: {e}"))?
        }
    })
}
