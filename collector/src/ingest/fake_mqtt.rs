//! A recording fake of [`Mqtt`] for unit tests.

use std::sync::{Arc, Mutex};

use super::mqtt::{Incoming, Mqtt, MqttError};

#[derive(Debug, Default)]
struct Record {
    published: Vec<(String, bool, Vec<u8>)>,
    acked: Vec<u16>,
    subscribed: Vec<Vec<String>>,
    unsubscribed: Vec<String>,
    /// Publishes of another epoch are not acked; 0 is read as 1.
    epoch: u64,
}

type Hook = Arc<dyn Fn() + Send + Sync>;

/// Records every request; acks only publishes of the current epoch (1 unless set).
#[derive(Clone, Default)]
pub struct FakeMqtt {
    record: Arc<Mutex<Record>>,
    on_ack: Arc<Mutex<Option<Hook>>>,
}

impl std::fmt::Debug for FakeMqtt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeMqtt")
            .field("record", &self.record)
            .finish()
    }
}

impl FakeMqtt {
    pub fn published(&self) -> Vec<(String, bool, Vec<u8>)> {
        self.record.lock().unwrap().published.clone()
    }

    pub fn acked(&self) -> Vec<u16> {
        self.record.lock().unwrap().acked.clone()
    }

    pub fn subscribed(&self) -> Vec<Vec<String>> {
        self.record.lock().unwrap().subscribed.clone()
    }

    pub fn unsubscribed(&self) -> Vec<String> {
        self.record.lock().unwrap().unsubscribed.clone()
    }

    /// Runs `hook` at every ack, before it is recorded (to check what is true at that moment).
    pub fn on_ack(&self, hook: impl Fn() + Send + Sync + 'static) {
        *self.on_ack.lock().unwrap() = Some(Arc::new(hook));
    }

    pub fn set_epoch(&self, epoch: u64) {
        self.record.lock().unwrap().epoch = epoch;
    }
}

impl Mqtt for FakeMqtt {
    async fn publish(
        &self,
        topic: String,
        retain: bool,
        payload: Vec<u8>,
    ) -> Result<(), MqttError> {
        self.record
            .lock()
            .unwrap()
            .published
            .push((topic, retain, payload));
        Ok(())
    }

    async fn ack(&self, incoming: &Incoming) -> Result<bool, MqttError> {
        let hook = self.on_ack.lock().unwrap().clone();
        if let Some(hook) = hook {
            hook();
        }
        let mut r = self.record.lock().unwrap();
        if incoming.epoch != r.epoch.max(1) {
            return Ok(false);
        }
        r.acked.push(incoming.publish.pkid);
        Ok(true)
    }

    async fn subscribe(&self, filters: Vec<String>) -> Result<(), MqttError> {
        self.record.lock().unwrap().subscribed.push(filters);
        Ok(())
    }

    async fn unsubscribe(&self, filter: String) -> Result<(), MqttError> {
        self.record.lock().unwrap().unsubscribed.push(filter);
        Ok(())
    }
}
