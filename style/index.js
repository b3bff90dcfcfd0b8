import './base.css';
import './sweep.css';
import './compare.css';
