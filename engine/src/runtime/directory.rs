//! The SIP layer's agent [`Directory`], answered from the admin service.
//!
//! Owns only the mapping from an agent profile to what SIP needs ([`SipAgent`]). Lookups read the
//! admin's in-memory data, so a profile change (a new SIP password, a disabled agent, a lower SIP
//! expires) applies to the very next REGISTER.

use crate::admin::Admin;
use crate::model::{Agent, Typology};
use crate::sip::registrar::{Directory, SipAgent};

/// What SIP needs of an agent, with its current SIP password.
pub fn sip_agent(agent: &Agent, sip_password: String) -> SipAgent {
    let p = &agent.profile;
    SipAgent {
        id: agent.id,
        extension: agent.extension.clone(),
        sip_password,
        expires_max: p.toolbar.sip_expires_seconds,
        nat: p.voice.nat,
        allowed_codecs: p.voice.allowed_codecs.clone(),
        webrtc: p.typology == Typology::Webrtc,
        enabled: !p.disabled && p.login_enabled && !agent.locked,
    }
}

impl Directory for Admin {
    fn agent_by_extension(&self, ext: &str) -> Option<SipAgent> {
        let creds = self.sip_credentials(ext)?;
        let agent = Admin::agent_by_extension(self, ext)?;
        Some(sip_agent(&agent, creds.password))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AgentProfile, CreateAgent};

    fn create(admin: &Admin, typology: Typology) -> (String, String) {
        let created = admin
            .create_agent(CreateAgent {
                username: "gil".into(),
                password: None,
                password_confirmation: None,
                extension: Some("7001".into()),
                sip_password: None,
                profile: AgentProfile {
                    first_name: "Gil".into(),
                    last_name: "Ray".into(),
                    typology,
                    ..Default::default()
                },
            })
            .unwrap();
        (
            created.agent.extension.clone(),
            created.sip_password.expect("generated"),
        )
    }

    #[test]
    fn extension_lookup_carries_generated_sip_password_and_profile_limits() {
        let admin = Admin::in_memory_for_tests();
        let (ext, password) = create(&admin, Typology::SipPhone);
        let a = Directory::agent_by_extension(&admin, &ext).expect("known extension");
        assert_eq!(a.sip_password, password);
        assert_eq!(a.extension, "7001");
        assert!(a.enabled);
        assert!(!a.webrtc);
        assert_eq!(a.expires_max, 600);
        assert!(Directory::agent_by_extension(&admin, "9999").is_none());
    }

    #[test]
    fn disabled_agent_is_not_enabled_for_sip() {
        let admin = Admin::in_memory_for_tests();
        let (ext, _) = create(&admin, Typology::Webrtc);
        let id = Directory::agent_by_extension(&admin, &ext).unwrap().id;
        admin.set_disabled(id, true).unwrap();
        let a = Directory::agent_by_extension(&admin, &ext).unwrap();
        assert!(!a.enabled);
        assert!(a.webrtc);
    }
}
